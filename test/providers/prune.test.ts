/**
 * The prune script a sync runs on the box, run here by the real `sh` in a scratch workdir: it
 * deletes only inside the workdir (never through a symlinked parent, whatever CDPATH says),
 * removes directories only when empty, and takes hostile names literally.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRUNE, pruneList } from '../../providers/common/prune.js';

const root = mkdtempSync(join(tmpdir(), 'dbx-prune-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function layout(name: string, files: string[]): string {
  const w = join(root, name, 'work');
  mkdirSync(w, { recursive: true });
  for (const f of files) {
    mkdirSync(dirname(join(w, f)), { recursive: true });
    writeFileSync(join(w, f), f);
  }
  return w;
}

function prune(workdir: string, files: string[], dirs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync('sh', ['-c', `cd -- "$1" && ${PRUNE} && echo chain-ok`, 'sh', workdir], {
    input: pruneList(files, dirs),
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  expect(res.stdout).toContain('chain-ok');
  return res;
}

describe('prune script', () => {
  it('deletes listed files and empty listed directories, nothing else', () => {
    const odd = ["sp ace'q\"$(touch PWNED)`touch PWNED2`", '-leading', 'f:looks-tagged', 'new\nline'];
    const w = layout('basic', ['a.txt', 'keep.txt', 'gen/x/y.txt', 'full/z.txt', ...odd]);
    mkdirSync(join(w, 'empty/deeper'), { recursive: true });
    prune(w, ['a.txt', 'gen/x/y.txt', ...odd], ['gen/x', 'gen', 'empty/deeper', 'empty', 'full']);
    expect(existsSync(join(w, 'a.txt'))).toBe(false);
    expect(existsSync(join(w, 'keep.txt'))).toBe(true);
    for (const o of odd) expect(existsSync(join(w, o)), o).toBe(false);
    expect(existsSync(join(w, 'PWNED')) || existsSync(join(w, 'PWNED2'))).toBe(false);
    // Emptied and empty directories go; a directory with a file left in it stays.
    expect(existsSync(join(w, 'gen'))).toBe(false);
    expect(existsSync(join(w, 'empty'))).toBe(false);
    expect(existsSync(join(w, 'full/z.txt'))).toBe(true);
  });

  it('never deletes through a parent that leads out of the workdir, even with CDPATH pointing elsewhere', () => {
    const w = layout('escape', ['inner/link/precious']);
    const outside = join(root, 'escape', 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'mine');
    symlinkSync(outside, join(w, 'link'));
    // CDPATH would make `cd link` land in inner/link (inside the workdir) while rm follows ./link.
    prune(w, ['link/precious'], ['link'], { CDPATH: join(w, 'inner') });
    expect(existsSync(join(outside, 'precious'))).toBe(true);
    expect(existsSync(join(w, 'inner/link/precious'))).toBe(true);
    // A symlinked parent that stays inside the workdir is followed as usual.
    symlinkSync('inner', join(w, 'alias'));
    prune(w, ['alias/link/precious']);
    expect(existsSync(join(w, 'inner/link/precious'))).toBe(false);
  });
});
