/** syncTree against a real local box: manifest rules, excludes, prune-only-what-we-shipped, ProxyCommand. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyBox, releaseAll, testCtx, useTempStateDir } from './helpers.js';
import type { SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { syncTree } from '../../providers/common/sync.js';
import { getProvider } from '../../providers/adapters.js';

const stateDir = useTempStateDir();
const adapter = getProvider('local', {});
let target: SshTarget;
let leaseId: string;
const work = mkdtempSync(join(tmpdir(), 'dbx-src-'));

function put(root: string, files: Record<string, string>) {
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), body);
  }
}

async function remoteFiles(dir: string): Promise<string[]> {
  const res = await sshExec(target, `cd '${dir}' && find . -type f | sed 's|^\\./||' | LC_ALL=C sort`);
  expect(res.code).toBe(0);
  return res.stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  ({ leaseId, target } = await readyBox(adapter, 'sync-box'));
});

afterAll(async () => {
  await releaseAll(adapter, stateDir);
  rmSync(work, { recursive: true, force: true });
});

describe('syncTree', () => {
  it('ships tracked + untracked-not-ignored files, honours excludes, and prunes only what it shipped', async () => {
    const repo = join(work, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
    git('init', '-q');
    put(repo, {
      'a.txt': 'A',
      'src/b.ts': 'export const b = 1;\n',
      'dist/tracked-artifact.js': 'tracked in a built-in dir\n',
      '.gitignore': '*.log\n',
      '.duraboxignore': '# local secrets\nsecret.env\ndocs/**/*.pdf\n!docs/keep/*.pdf\n',
      'docs/x/manual.pdf': 'pdf',
      'docs/keep/ok.pdf': 'pdf',
    });
    git('add', '-A');
    git('commit', '-q', '-m', 'init');
    put(repo, {
      'new.txt': 'untracked',
      "we ird 'name'.txt": 'spaces and quotes',
      // rsync reads list entries starting with # or ; as comments unless they are prefixed.
      '#hash.txt': 'hash',
      ';semi.txt': 'semi',
      'debug.log': 'ignored by git',
      'secret.env': 'TOKEN=1',
      'node_modules/pkg/index.js': 'untracked in a built-in dir',
      '.durabox/state': 'tool state',
    });

    const ctx = testCtx();
    const first = await syncTree({ target, localRoot: repo, leaseId, repoName: 'repo' }, ctx);
    expect(first.workdir).toBe(`${target.workRoot}/${leaseId}/repo`);
    const shipped = [
      '#hash.txt', '.duraboxignore', '.gitignore', ';semi.txt', 'a.txt', 'dist/tracked-artifact.js', 'docs/keep/ok.pdf', 'new.txt', 'src/b.ts', "we ird 'name'.txt",
    ];
    expect(await remoteFiles(first.workdir)).toEqual(shipped);
    expect(first).toMatchObject({ files: shipped.length, deleted: 0 });
    expect(first.bytes).toBeGreaterThan(0);
    expect(ctx.beats.length).toBeGreaterThan(0);

    // The command creates build output on the box; locally a tracked and an untracked file go away.
    expect((await sshExec(target, `mkdir -p '${first.workdir}/build' && echo out > '${first.workdir}/build/out.bin'`)).code).toBe(0);
    rmSync(join(repo, 'a.txt'));
    rmSync(join(repo, 'new.txt'));
    put(repo, { 'src/c.ts': 'export const c = 2;\n' });

    const second = await syncTree({ target, localRoot: repo, leaseId, repoName: 'repo' }, testCtx());
    expect(second.deleted).toBe(2);
    const after = await remoteFiles(second.workdir);
    expect(after).toContain('build/out.bin');
    expect(after).toContain('src/c.ts');
    expect(after).not.toContain('a.txt');
    expect(after).not.toContain('new.txt');

    // The box's record of what we shipped is exactly the current manifest.
    const manifest = await sshExec(target, `cat '${target.workRoot}/${leaseId}/.durabox/manifest'`);
    expect(manifest.stdout.split('\0').filter(Boolean).sort()).toEqual([...shipped.filter((p) => p !== 'a.txt' && p !== 'new.txt'), 'src/c.ts'].sort());

    // Excluding a file later removes the copy we shipped earlier (the last sync shipped it).
    const third = await syncTree({ target, localRoot: repo, leaseId, repoName: 'repo', excludes: ['src/c.ts'] }, testCtx());
    expect(third.deleted).toBe(1);
    expect(await remoteFiles(third.workdir)).not.toContain('src/c.ts');
  });

  it("prunes only inside the workdir, and leaves the workdir's own mode alone", async () => {
    const dir = join(work, 'guarded');
    put(dir, { 'data/sample.csv': 'a,b\n', 'keep.txt': 'k' });
    const first = await syncTree({ target, localRoot: dir, leaseId, repoName: 'guarded' }, testCtx());
    // On the box the command opens the workdir up and swaps data/ for a link to a disk elsewhere.
    const outside = `${target.workRoot}/${leaseId}-outside`;
    const box = await sshExec(
      target,
      `chmod 755 '${first.workdir}' && mkdir -p '${outside}' && echo precious > '${outside}/sample.csv' && rm -rf '${first.workdir}/data' && ln -s '${outside}' '${first.workdir}/data'`,
    );
    expect(box.code).toBe(0);
    chmodSync(dir, 0o700);
    rmSync(join(dir, 'data'), { recursive: true });
    put(dir, { 'keep.txt': 'changed' });
    const second = await syncTree({ target, localRoot: dir, leaseId, repoName: 'guarded' }, testCtx());
    expect(second.skipped).toBe(false);
    // data/sample.csv was ours to prune, but its parent now leads out of the workdir: untouched.
    expect((await sshExec(target, `cat '${outside}/sample.csv'`)).stdout).toBe('precious\n');
    expect((await sshExec(target, `stat -c %a '${first.workdir}'`)).stdout.trim()).toBe('755');
  });

  it('walks a non-git directory, skipping built-in artifact dirs', async () => {
    const dir = join(work, 'plain');
    put(dir, {
      'main.py': 'print(1)\n',
      'pkg/util.py': 'x = 1\n',
      '__pycache__/main.cpython.pyc': 'bytecode',
      'node_modules/a/b.js': 'dep',
      '.duraboxignore': '*.tmp\n',
      'scratch.tmp': 'tmp',
    });
    const res = await syncTree({ target, localRoot: dir, leaseId, repoName: 'plain' }, testCtx());
    expect(await remoteFiles(res.workdir)).toEqual(['.duraboxignore', 'main.py', 'pkg/util.py']);
    expect(res.files).toBe(3);
  });

  it('works through a ProxyCommand (rsync and ssh share the same options)', async () => {
    const relay = "const s=require('net').connect(+process.argv[1],'127.0.0.1');process.stdin.pipe(s);s.pipe(process.stdout)";
    const proxied: SshTarget = { ...target, host: 'box.invalid', proxyCommand: [process.execPath, '-e', relay, String(target.port)] };
    const dir = join(work, 'proxied');
    put(dir, { 'hello.txt': 'via proxy' });
    const res = await syncTree({ target: proxied, localRoot: dir, leaseId, repoName: 'proxied' }, testCtx());
    expect(res.files).toBe(1);
    expect((await sshExec(proxied, `cat '${res.workdir}/hello.txt'`)).stdout).toBe('via proxy');
  });

  it('re-sync of an unchanged tree deletes nothing and keeps the file count', async () => {
    const dir = join(work, 'plain');
    const a = await syncTree({ target, localRoot: dir, leaseId, repoName: 'plain' }, testCtx());
    const t0 = Date.now();
    const b = await syncTree({ target, localRoot: dir, leaseId, repoName: 'plain' }, testCtx());
    console.log(`warm no-op sync: ${Date.now() - t0} ms`);
    // Nothing changed: the fingerprint on the box matches and rsync is skipped.
    expect(b).toEqual({ ...a, deleted: 0, skipped: true });
  });
});
