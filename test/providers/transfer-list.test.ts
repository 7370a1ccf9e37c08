/** transferList names a directory whole only when everything in it is shipped; extraShipped reads rsync's output. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extraShipped, SENT_PREFIX, transferList, unescapeRsyncName } from '../../providers/common/transfer-list.js';

const root = mkdtempSync(join(tmpdir(), 'dbx-tl-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tree(name: string, files: string[]): string {
  const dir = join(root, name);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), f);
  }
  return dir;
}

describe('transferList', () => {
  it('names fully shipped directories once and lists the rest file by file', () => {
    const dir = tree('mixed', ['top.txt', 'src/a.ts', 'src/deep/b.ts', 'lib/c.ts', 'lib/ignored.log', 'lib/sub/d.ts', 'docs/x.md']);
    mkdirSync(join(dir, 'docs/empty'));
    const manifest = ['docs/x.md', 'lib/c.ts', 'lib/sub/d.ts', 'src/a.ts', 'src/deep/b.ts', 'top.txt'];
    const list = transferList(dir, manifest);
    // src is whole; lib holds an unshipped file, so only lib/sub is whole; docs holds an empty dir.
    expect(list.entries.sort()).toEqual(['docs/x.md', 'lib/c.ts', 'lib/sub', 'src', 'top.txt']);
    expect(list.dirs).toBe(2);
  });

  it('never names the root, a directory with a missing manifest file, or one holding a fifo', () => {
    const dir = tree('special', ['a.txt', 'p/one.txt', 'q/two.txt']);
    execFileSync('mkfifo', [join(dir, 'q/pipe')]);
    // p/gone.txt is in the manifest but not on disk (deleted mid-sync): p still only holds shipped files.
    const list = transferList(dir, ['a.txt', 'p/gone.txt', 'p/one.txt', 'q/two.txt']);
    expect(list.entries.sort()).toEqual(['a.txt', 'p', 'q/two.txt']);
  });

  it('treats a symlink to a directory as a file, not a directory to recurse into', () => {
    const dir = tree('links', ['real/f.txt', 'w/g.txt']);
    symlinkSync('../real', join(dir, 'w/link'));
    expect(transferList(dir, ['real/f.txt', 'w/g.txt', 'w/link']).entries.sort()).toEqual(['real', 'w']);
    // Without the link in the manifest, w is not whole.
    expect(transferList(dir, ['real/f.txt', 'w/g.txt']).entries.sort()).toEqual(['real', 'w/g.txt']);
  });

  it('never names a symlinked directory whole, even when the manifest lists files beneath it', () => {
    // git's index can still list vendor/lib/x.js after the tracked dir became a symlink to a fork.
    const dir = tree('linked-parent', ['fork/x.js', 'main.js']);
    mkdirSync(join(dir, 'vendor'));
    symlinkSync('../fork', join(dir, 'vendor/lib'));
    const list = transferList(dir, ['main.js', 'vendor/lib', 'vendor/lib/x.js']);
    expect(list.entries.sort()).toEqual(['main.js', 'vendor/lib', 'vendor/lib/x.js']);
    expect(list.dirs).toBe(0);
  });

  it('never names the root whole, even when everything in it is shipped', () => {
    const dir = tree('all-shipped', ['a.txt', 'sub/b.txt']);
    expect(transferList(dir, ['a.txt', 'sub/b.txt']).entries.sort()).toEqual(['a.txt', 'sub']);
  });

  it('lists everything file by file when a directory cannot be read', () => {
    const list = transferList(join(root, 'does-not-exist'), ['a/b.txt', 'c.txt']);
    expect(list).toEqual({ entries: ['a/b.txt', 'c.txt'], dirs: 0 });
  });
});

describe('extraShipped', () => {
  it("returns sent files outside the manifest and the directories rsync created for them, from its prefixed lines only", () => {
    const out = [
      '.d..t...... src/',
      '>f+++++++++ src/a.ts',
      '>f+++++++++ src/new.env',
      '>f+++++++++ src/pr\\#303\\#270d.env',
      '>f.st...... top.txt',
      '>f+++++++++ lit\\#134#012x',
      // Made by the command on the box before: only its time changed, so it is not ours to remove.
      '.d..t...... src/cache/',
      '>f+++++++++ src/cache/raced.env',
      'cd+++++++++ src/.cache/',
      'cd+++++++++ src/.cache/x/',
      '>f+++++++++ src/.cache/x/f',
      'cL+++++++++ src/link',
    ].map((n) => `${SENT_PREFIX}${n}`).concat(['cannot delete non-empty directory: vendor/lib', '']).join('\n');
    const extra = extraShipped(out, new Set(['src/a.ts', 'top.txt']));
    expect(extra.files).toEqual(['src/new.env', 'src/prød.env', 'lit\\#012x', 'src/cache/raced.env', 'src/.cache/x/f', 'src/link']);
    // Created here and needed by no manifest path, deepest first; src and src/cache stay.
    expect(extra.dirs).toEqual(['src/.cache/x', 'src/.cache']);
  });

  it('decodes escapes exactly and leaves plain names alone', () => {
    expect(unescapeRsyncName('plain name.txt')).toBe('plain name.txt');
    expect(unescapeRsyncName('a\\#012b')).toBe('a\nb');
    expect(unescapeRsyncName('n\\#303\\#270')).toBe('nø');
  });
});
