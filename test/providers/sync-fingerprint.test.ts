/**
 * The sync fingerprint against a real local box: an unchanged tree skips rsync; any change that
 * could alter what lands on the box (content, mode, HEAD, manifest, excludes, mtime outside git)
 * syncs again; a sync that fails half-way leaves no fingerprint behind.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, releaseAll, testCtx, useTempStateDir } from './helpers.js';
import type { SshTarget } from '../../providers/adapter.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { sshExec } from '../../providers/common/remote.js';
import { syncTree, type SyncOptions } from '../../providers/common/sync.js';
import { getProvider } from '../../providers/adapters.js';

const stateDir = useTempStateDir();
const adapter = getProvider('local', {});
let target: SshTarget;
const work = mkdtempSync(join(tmpdir(), 'dbx-fp-'));

function put(root: string, files: Record<string, string>) {
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), body);
  }
}

async function newBox(): Promise<string> {
  const leaseId = newLeaseId();
  const key = await ensureLeaseKey(leaseId);
  const box = await adapter.create({ leaseId, slug: 'fp-box', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
  target = await adapter.waitReady(box, testCtx());
  return leaseId;
}

const remoteCat = async (path: string) => (await sshExec(target, `cat '${path}'`)).stdout;

beforeAll(async () => {
  await newBox();
});

afterAll(async () => {
  await releaseAll(adapter, stateDir);
  rmSync(work, { recursive: true, force: true });
});

describe('sync fingerprint', () => {
  it('skips an unchanged git tree and resyncs on every kind of change', async () => {
    const leaseId = await newBox();
    const repo = join(work, 'git-repo');
    mkdirSync(repo);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
    git('init', '-q');
    put(repo, { 'a.txt': 'AAAA\n', 'src/b.sh': 'echo b\n', '.gitignore': '*.log\n' });
    git('add', '-A');
    git('commit', '-q', '-m', 'init');
    put(repo, { 'untracked.txt': 'u1\n', 'debug.log': 'ignored\n' });
    const opts: SyncOptions = { target, localRoot: repo, leaseId, repoName: 'repo' };
    const sync = (extra: Partial<SyncOptions> = {}) => syncTree({ ...opts, ...extra }, testCtx());
    const workdir = `${target.workRoot}/${leaseId}/repo`;

    const first = await sync();
    expect(first.skipped).toBe(false);
    expect((await remoteCat(`${target.workRoot}/${leaseId}/.durabox/sync-fingerprint`)).trim()).toBe(first.fingerprint);

    const t0 = Date.now();
    const second = await sync();
    const warmMs = Date.now() - t0;
    console.log(`fingerprint-skipped sync: ${warmMs} ms`);
    expect(second).toMatchObject({ skipped: true, fingerprint: first.fingerprint, files: first.files, deleted: 0 });

    // Same size, different content of a tracked file.
    put(repo, { 'a.txt': 'BBBB\n' });
    const edited = await sync();
    expect(edited.skipped).toBe(false);
    expect(await remoteCat(`${workdir}/a.txt`)).toBe('BBBB\n');
    expect((await sync()).skipped).toBe(true);

    // Content of an untracked file.
    put(repo, { 'untracked.txt': 'u2\n' });
    expect((await sync()).skipped).toBe(false);
    expect(await remoteCat(`${workdir}/untracked.txt`)).toBe('u2\n');

    // Mode only.
    chmodSync(join(repo, 'src/b.sh'), 0o755);
    expect((await sync()).skipped).toBe(false);
    expect((await sync()).skipped).toBe(true);

    // A new commit with the same tree content still moves HEAD.
    git('add', '-A');
    git('commit', '-q', '-m', 'second');
    expect((await sync()).skipped).toBe(false);
    expect((await sync()).skipped).toBe(true);

    // A git-ignored file changing does not count; a new exclude rule does.
    put(repo, { 'debug.log': 'still ignored, changed\n' });
    expect((await sync()).skipped).toBe(true);
    const excluded = await sync({ excludes: ['untracked.txt'] });
    expect(excluded.skipped).toBe(false);
    expect((await sync({ excludes: ['untracked.txt'] })).skipped).toBe(true);

    // A file deleted locally changes the manifest.
    rmSync(join(repo, 'a.txt'));
    const deleted = await sync({ excludes: ['untracked.txt'] });
    expect(deleted).toMatchObject({ skipped: false, deleted: 1 });

    // force ignores the fingerprint.
    expect((await sync({ excludes: ['untracked.txt'], force: true })).skipped).toBe(false);

    // The workdir vanished on the box (someone ran rm -rf): never trust the fingerprint then.
    await sshExec(target, `rm -rf '${workdir}'`);
    const rebuilt = await sync({ excludes: ['untracked.txt'] });
    expect(rebuilt.skipped).toBe(false);
    expect(await remoteCat(`${workdir}/src/b.sh`)).toBe('echo b\n');
  });

  it('outside git, mtime and content both count', async () => {
    const leaseId = await newBox();
    const dir = join(work, 'plain');
    put(dir, { 'main.py': 'print(1)\n', 'pkg/util.py': 'x = 1\n' });
    const sync = () => syncTree({ target, localRoot: dir, leaseId, repoName: 'plain' }, testCtx());
    expect((await sync()).skipped).toBe(false);
    expect((await sync()).skipped).toBe(true);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(dir, 'main.py'), later, later);
    expect((await sync()).skipped).toBe(false);
    expect((await sync()).skipped).toBe(true);
    put(dir, { 'pkg/util.py': 'x = 2\n' });
    expect((await sync()).skipped).toBe(false);
    expect(await remoteCat(`${target.workRoot}/${leaseId}/plain/pkg/util.py`)).toBe('x = 2\n');
  });

  it('ships a same-size edit made within the same second as the last sync (rsync compares nanoseconds)', async () => {
    const leaseId = await newBox();
    const dir = join(work, 'same-second');
    const second = Math.floor(Date.now() / 1000) - 60;
    put(dir, { 'f.txt': 'v1\n' });
    utimesSync(join(dir, 'f.txt'), second + 0.1, second + 0.1);
    const sync = () => syncTree({ target, localRoot: dir, leaseId, repoName: 'same-second' }, testCtx());
    expect((await sync()).skipped).toBe(false);
    // Same size, same whole second: only the nanoseconds tell rsync's quick check it changed.
    put(dir, { 'f.txt': 'v2\n' });
    utimesSync(join(dir, 'f.txt'), second + 0.6, second + 0.6);
    expect((await sync()).skipped).toBe(false);
    expect(await remoteCat(`${target.workRoot}/${leaseId}/same-second/f.txt`)).toBe('v2\n');
  });

  it('a sync that fails after staging drops the old fingerprint, so a reverted tree syncs again', async () => {
    const leaseId = await newBox();
    const dir = join(work, 'revert');
    const t = new Date(1_700_000_000_000);
    put(dir, { 'f.txt': 'v1\n' });
    utimesSync(join(dir, 'f.txt'), t, t);
    const sync = () => syncTree({ target, localRoot: dir, leaseId, repoName: 'revert' }, testCtx());
    const fpFile = `${target.workRoot}/${leaseId}/.durabox/sync-fingerprint`;
    const v1 = await sync();
    expect(v1.skipped).toBe(false);

    // v2 starts syncing, but rsync fails (a broken rsync first on PATH).
    put(dir, { 'f.txt': 'v2\n' });
    const fakeBin = mkdtempSync(join(tmpdir(), 'dbx-fakebin-'));
    writeFileSync(join(fakeBin, 'rsync'), '#!/bin/sh\necho "rsync: simulated failure" >&2\nexit 12\n', { mode: 0o755 });
    const path = process.env.PATH;
    process.env.PATH = `${fakeBin}:${path}`;
    try {
      await expect(sync()).rejects.toThrow(/rsync exited 12/);
    } finally {
      process.env.PATH = path;
    }
    expect((await sshExec(target, `test -e '${fpFile}'`)).code).not.toBe(0);

    // Back to v1 locally: the box may hold a half-synced v2, so the v1 fingerprint must not match.
    put(dir, { 'f.txt': 'v1\n' });
    utimesSync(join(dir, 'f.txt'), t, t);
    const again = await sync();
    expect(again.fingerprint).toBe(v1.fingerprint);
    expect(again.skipped).toBe(false);
    expect(await remoteCat(`${target.workRoot}/${leaseId}/revert/f.txt`)).toBe('v1\n');
    expect((await remoteCat(fpFile)).trim()).toBe(again.fingerprint);
  });
});
