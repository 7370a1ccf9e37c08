/**
 * The sync fingerprint measures a git tree's changes against the commit it hashes, read in the same
 * git call that found the work tree: a commit made while a sync reads the tree must not produce a
 * fingerprint of one commit with the changes counted from another.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildManifest, excludeRules } from '../../providers/common/manifest.js';
import { syncFingerprint } from '../../providers/common/fingerprint.js';

const git = (repo: string, ...args: string[]) =>
  execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();

async function fingerprint(root: string, head?: string | null) {
  const m = await buildManifest(root);
  return { manifest: m, fp: await syncFingerprint({ localRoot: root, workdir: '/w', paths: m.paths, git: m.git, untracked: m.untracked, head: head === undefined ? m.head : head, rules: excludeRules(root) }) };
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

  it('counts changes from the commit it hashes, not from a HEAD that moved meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-fp-head-'));
    const moved = join(dir, 'moved');
    execFileSync('git', ['init', '-q', moved]);
    writeFileSync(join(moved, 'f.txt'), '1\n');
    git(moved, 'add', '-A');
    git(moved, 'commit', '-q', '-m', 'a');
    const a = git(moved, 'rev-parse', 'HEAD');
    // The sync read HEAD = a; then a commit of f's new content landed before the diff ran.
    writeFileSync(join(moved, 'f.txt'), '2\n');
    git(moved, 'commit', '-q', '-am', 'b');

    // The same files, still at a: f differs from a there.
    const still = join(dir, 'still');
    execFileSync('git', ['clone', '-q', moved, still]);
    git(still, 'checkout', '-q', a);
    writeFileSync(join(still, 'f.txt'), '2\n');

    const atA = await fingerprint(still);
    expect(atA.manifest.head).toBe(a);
    expect((await fingerprint(moved, a)).fp).toBe(atA.fp);
    // And with the commit it actually hashes, the moved tree's fingerprint is a different one.
    expect((await fingerprint(moved)).fp).not.toBe(atA.fp);
  });
});
