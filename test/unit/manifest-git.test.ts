/**
 * A repository git refuses to read is not synced as a plain directory: a walk would ship what its
 * .gitignore keeps out. A directory git rightly says is in no repository is walked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildManifest } from '../../providers/common/manifest.js';
import { gitIn, newRepo } from '../support/git-repo.js';

afterEach(() => {
  delete process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER;
  delete process.env.GIT_CEILING_DIRECTORIES;
});

function repoWithSecret(): string {
  const repo = join(mkdtempSync(join(tmpdir(), 'dbx-manifest-')), 'repo');
  execFileSync('git', ['init', '-q', repo]);
  writeFileSync(join(repo, '.gitignore'), '*.env\n');
  writeFileSync(join(repo, 'app.ts'), 'x\n');
  writeFileSync(join(repo, 'prod.env'), 'TOKEN=secret\n');
  mkdirSync(join(repo, 'sub'));
  writeFileSync(join(repo, 'sub', 'b.ts'), 'b\n');
  return repo;
}

/** A directory with one file, and git told not to look above its parent. */
function plainDir(parent: string, name = 'plain'): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  return dir;
}

describe('manifest and what git will read', () => {
  it('refuses a repository git will not read (dubious ownership), from its root, a subdirectory or a symlink', async () => {
    const repo = repoWithSecret();
    expect((await buildManifest(repo)).paths).toEqual(['.gitignore', 'app.ts', 'sub/b.ts']);
    const link = join(dirname(repo), 'link-to-sub');
    symlinkSync(join(repo, 'sub'), link);
    // git's own switch for "this repository belongs to someone else" (safe.directory checks).
    process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER = '1';
    for (const root of [repo, join(repo, 'sub'), link]) {
      await expect(buildManifest(root), root).rejects.toMatchObject({
        kind: 'invalid',
        message: expect.stringMatching(/git cannot read the repository holding .*dubious ownership.*safe\.directory/),
      });
    }
  });

  it('refuses a work tree configured bare, whose ignore rules git no longer applies', async () => {
    const repo = repoWithSecret();
    execFileSync('git', ['-C', repo, 'config', 'core.bare', 'true']);
    await expect(buildManifest(repo)).rejects.toMatchObject({ kind: 'invalid', message: expect.stringMatching(/no work tree/) });
  });

  it('walks what git says is in no repository: a plain directory, below a ceiling, below an empty .git', async () => {
    const base = mkdtempSync(join(tmpdir(), 'dbx-manifest-plain-'));
    process.env.GIT_CEILING_DIRECTORIES = base;
    process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER = '1';
    expect(await buildManifest(plainDir(base))).toMatchObject({ git: false, paths: ['a.txt'] });

    // A repository above, with git told not to look past `work`.
    const top = join(base, 'top');
    execFileSync('git', ['init', '-q', top]);
    delete process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER;
    process.env.GIT_CEILING_DIRECTORIES = join(top, 'work');
    expect(await buildManifest(plainDir(join(top, 'work'), 'proj'))).toMatchObject({ git: false, paths: ['a.txt'] });

    // An empty .git directory above is no repository to git either.
    process.env.GIT_CEILING_DIRECTORIES = base;
    mkdirSync(join(base, 'empty', '.git'), { recursive: true });
    expect(await buildManifest(plainDir(join(base, 'empty'), 'sub'))).toMatchObject({ git: false, paths: ['a.txt'] });
  });
});

describe('the one-process pass of git calls', () => {
  const git = gitIn;

  it('keeps each call apart whatever the paths hold (newlines, colons, digits, NUL-framed lists)', async () => {
    const repo = newRepo('dbx-manifest-');
    writeFileSync(join(repo, 'kept.txt'), '1\n');
    writeFileSync(join(repo, 'x:0'), 'colon\n');
    writeFileSync(join(repo, 'two\nlines.txt'), 'nl\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a');
    writeFileSync(join(repo, 'x:0'), 'changed\n');
    writeFileSync(join(repo, 'new:1.txt'), 'untracked\n');
    const m = await buildManifest(repo);
    expect(m.head).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(m.paths).toEqual(['kept.txt', 'new:1.txt', 'two\nlines.txt', 'x:0']);
    expect(m.untracked).toEqual(['new:1.txt']);
    expect(m.headDiff).toEqual(['x:0']);
  });

  it('has no diff before the first commit, and an empty one for a clean tree', async () => {
    const repo = newRepo('dbx-manifest-');
    writeFileSync(join(repo, 'a.txt'), 'a\n');
    expect(await buildManifest(repo)).toMatchObject({ head: null, headDiff: undefined, untracked: ['a.txt'] });
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'a');
    expect(await buildManifest(repo)).toMatchObject({ headDiff: [], untracked: [] });
  });
});

describe('without git', () => {
  it('fails with one line saying git is missing, and lists nothing', async () => {
    const dir = plainDir(mkdtempSync(join(tmpdir(), 'dbx-manifest-')));
    const path = process.env.PATH;
    // A PATH holding only sh: the script runs, git is not found.
    const bin = mkdtempSync(join(tmpdir(), 'dbx-nogit-'));
    symlinkSync(execFileSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).trim(), join(bin, 'sh'));
    process.env.PATH = bin;
    try {
      await expect(buildManifest(dir)).rejects.toMatchObject({ kind: 'invalid', message: expect.stringMatching(/^git is not installed on this machine/) });
    } finally {
      process.env.PATH = path;
    }
  });
});
