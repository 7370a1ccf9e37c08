/**
 * A file created in a directory rsync is told to send whole, after our walk and before rsync's:
 * it reaches the box, and the sync removes it again, whether rsync succeeds or fails. The race is
 * made deterministic by an `rsync` first on PATH that creates the file, then runs the real rsync.
 * Real local box, real sshd, real rsync.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readyBox, releaseAll, testCtx, useTempStateDir } from './helpers.js';
import type { SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { syncTree } from '../../providers/common/sync.js';
import { getProvider } from '../../providers/adapters.js';

const stateDir = useTempStateDir();
const adapter = getProvider('local', {});
let target: SshTarget;
let leaseId: string;
const work = mkdtempSync(join(tmpdir(), 'dbx-race-'));
const realRsync = execFileSync('sh', ['-c', 'command -v rsync'], { encoding: 'utf8' }).trim();
const originalPath = process.env.PATH;

/** An `rsync` that writes `raced` into the tree, then runs the real one (and exits `code` if set). */
function racingRsync(raced: string, code?: number): void {
  const bin = join(work, `bin-${Math.random().toString(16).slice(2)}`);
  mkdirSync(bin);
  const after = code === undefined ? `exec '${realRsync}' "$@"` : `'${realRsync}' "$@"; exit ${code}`;
  writeFileSync(join(bin, 'rsync'), `#!/bin/sh\nmkdir -p "$(dirname '${raced}')" && echo 'TOKEN=raced' > '${raced}'\n${after}\n`);
  chmodSync(join(bin, 'rsync'), 0o755);
  process.env.PATH = `${bin}:${originalPath}`;
}

function repo(name: string): string {
  const dir = join(work, name);
  for (const [p, body] of Object.entries({ '.gitignore': '*.env\n', 'top.txt': 'top\n', 'src/a.ts': 'a\n', 'src/b.ts': 'b\n' })) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'init');
  return dir;
}

const onBox = async (path: string) => (await sshExec(target, `test -e '${path}' && echo yes || echo no`)).stdout.trim() === 'yes';

beforeAll(async () => {
  ({ leaseId, target } = await readyBox(adapter, 'race-box'));
});
afterEach(() => {
  process.env.PATH = originalPath;
});
afterAll(async () => {
  await releaseAll(adapter, stateDir);
  rmSync(work, { recursive: true, force: true });
});

describe('a file created mid-sync in a directory sent whole', () => {
  it('is removed from the box again after a complete sync', async () => {
    const dir = repo('ok');
    racingRsync(join(dir, 'src/gen/raced.env'));
    const res = await syncTree({ target, localRoot: dir, leaseId, repoName: 'ok' }, testCtx());
    expect(existsSync(join(dir, 'src/gen/raced.env'))).toBe(true); // the race happened locally
    expect(await onBox(`${res.workdir}/src/a.ts`)).toBe(true);
    expect(await onBox(`${res.workdir}/src/gen/raced.env`)).toBe(false);
    expect(await onBox(`${res.workdir}/src/gen`)).toBe(false);
    expect(res.deleted).toBe(1);
  });

  it('leaves a directory the command made on the box, even when the raced file lands in it', async () => {
    const dir = repo('boxdir');
    const first = await syncTree({ target, localRoot: dir, leaseId, repoName: 'boxdir' }, testCtx());
    expect((await sshExec(target, `mkdir '${first.workdir}/src/cache'`)).code).toBe(0);
    writeFileSync(join(dir, 'top.txt'), 'changed\n');
    racingRsync(join(dir, 'src/cache/raced.env'));
    const res = await syncTree({ target, localRoot: dir, leaseId, repoName: 'boxdir' }, testCtx());
    expect(await onBox(`${res.workdir}/src/cache/raced.env`)).toBe(false);
    expect(await onBox(`${res.workdir}/src/cache`)).toBe(true);
  });

  it('is removed from the box with the directories it came in when rsync then fails, which the sync reports', async () => {
    const dir = repo('fails');
    racingRsync(join(dir, 'src/new/deeper/raced.env'), 23);
    const ctx = testCtx();
    await expect(syncTree({ target, localRoot: dir, leaseId, repoName: 'fails' }, ctx)).rejects.toThrow(/rsync exited 23/);
    const workdir = `${target.workRoot}/${leaseId}/fails`;
    expect(await onBox(`${workdir}/src/a.ts`)).toBe(true); // rsync itself did ship
    expect(await onBox(`${workdir}/src/new/deeper/raced.env`)).toBe(false);
    // The directories it came in are gone too: nothing in the manifest needs them.
    expect(await onBox(`${workdir}/src/new`)).toBe(false);
  });
});
