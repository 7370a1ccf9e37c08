/**
 * The sync fingerprint measures a git tree's changes against the commit it hashes, read in the same
 * pass of git calls (git-snapshot.ts) that found the work tree: a commit made while a sync reads the
 * tree must not produce a fingerprint of one commit with the changes counted from another.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildManifest } from '../../providers/common/manifest.js';
import { localSyncState } from '../../providers/common/sync.js';
import type { SshTarget } from '../../providers/adapter.js';
import { gitIn } from '../support/git-repo.js';

// localSyncState reads the target only for the remote paths that enter the fingerprint.
const target = { user: 'u', host: '127.0.0.1', port: 22, keyPath: '/k', hostKeyAlias: 'durabox-x', hostKeys: [], workRoot: '/w' } as unknown as SshTarget;
const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();

const git = gitIn;

/**
 * `moved`: commit a with f = 1, then f = 2 in the work tree (not committed). `still`: a clone at a
 * holding the same files, so f differs from a there too.
 */
function twoTrees(): { dir: string; moved: string; still: string; a: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dbx-fp-head-'));
  const moved = join(dir, 'moved');
  execFileSync('git', ['init', '-q', moved]);
  writeFileSync(join(moved, 'f.txt'), '1\n');
  git(moved, 'add', '-A');
  git(moved, 'commit', '-q', '-m', 'a');
  const a = git(moved, 'rev-parse', 'HEAD');
  writeFileSync(join(moved, 'f.txt'), '2\n');
  const still = join(dir, 'still');
  execFileSync('git', ['clone', '-q', moved, still]);
  writeFileSync(join(still, 'f.txt'), '2\n');
  return { dir, moved, still, a };
}

describe('sync fingerprint and HEAD', () => {
  it('reads HEAD with the work-tree check, and null before the first commit or outside git', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-fp-head-'));
    const repo = join(dir, 'repo');
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, 'f.txt'), '1\n');
    const unborn = await buildManifest(repo);
    expect(unborn).toMatchObject({ git: true, head: null, paths: ['f.txt'], untracked: ['f.txt'] });
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a');
    const born = await buildManifest(repo);
    expect(born.head).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(born.untracked).toEqual([]);
    const plain = join(dir, 'plain');
    execFileSync('mkdir', [plain]);
    writeFileSync(join(plain, 'g.txt'), 'g\n');
    expect(await buildManifest(plain)).toMatchObject({ git: false, head: null, untracked: [] });
  });

  it('keeps a work tree whose HEAD cannot be read a git tree (its ignore rules hold), with no HEAD', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-fp-head-'));
    const repo = join(dir, 'repo');
    execFileSync('git', ['init', '-q', repo]);
    writeFileSync(join(repo, '.gitignore'), '*.env\n');
    writeFileSync(join(repo, 'f.txt'), '1\n');
    writeFileSync(join(repo, 'secret.env'), 'TOKEN=x\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a');
    git(repo, 'pack-refs', '--all');
    appendFileSync(join(repo, '.git', 'packed-refs'), 'garbage line\n');
    const m = await buildManifest(repo);
    expect(m).toMatchObject({ git: true, head: null });
    expect(m.paths).not.toContain('secret.env');
  });

  it('a commit landing between the manifest and the diff does not mix two commits', async () => {
    const { dir, moved, still, a } = twoTrees();
    const opts = { target, leaseId: 'dbx_000000000001', repoName: 'repo' };
    const expected = (await localSyncState({ ...opts, localRoot: still })).fingerprint;

    // A `git` first on PATH that commits f right after the manifest's listing, before anything
    // else the fingerprint asks git (HEAD, the diff).
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\n'${realGit}' "$@"; rc=$?\ncase " $* " in *" ls-files "*) [ -e '${dir}/committed' ] || { touch '${dir}/committed'; '${realGit}' -C '${moved}' -c user.name=t -c user.email=t@t commit -q -am b; } ;; esac\nexit $rc\n`,
    );
    chmodSync(join(bin, 'git'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    let raced;
    try {
      raced = await localSyncState({ ...opts, localRoot: moved });
    } finally {
      process.env.PATH = path;
    }
    expect(git(moved, 'rev-parse', 'HEAD')).not.toBe(a);
    expect(raced.manifest.head).toBe(a);
    // Measured from a, as the clone still at a measures it: the same fingerprint.
    expect(raced.fingerprint).toBe(expected);
  });
});
