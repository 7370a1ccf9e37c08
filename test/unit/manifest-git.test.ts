/**
 * A repository git refuses to read is not synced as a plain directory: a walk would ship what its
 * .gitignore keeps out.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildManifest } from '../../providers/common/manifest.js';

afterEach(() => {
  delete process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER;
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

describe('manifest of a repository git will not read', () => {
  it('refuses (dubious ownership) instead of walking past .gitignore, from the root or a subdirectory', async () => {
    const repo = repoWithSecret();
    expect((await buildManifest(repo)).paths).toEqual(['.gitignore', 'app.ts', 'sub/b.ts']);
    // git's own switch for "this repository belongs to someone else" (safe.directory checks).
    process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER = '1';
    await expect(buildManifest(repo)).rejects.toMatchObject({ kind: 'invalid', message: expect.stringMatching(/git cannot read the repository at .*dubious ownership/) });
    await expect(buildManifest(join(repo, 'sub'))).rejects.toMatchObject({ kind: 'invalid' });
  });

  it('still walks a directory that is in no repository', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-manifest-plain-'));
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    process.env.GIT_TEST_ASSUME_DIFFERENT_OWNER = '1';
    expect(await buildManifest(dir)).toMatchObject({ git: false, paths: ['a.txt'] });
  });
});
