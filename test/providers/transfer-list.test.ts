/** transferList names a directory whole only when everything in it is shipped; extraShipped reads rsync's output. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extraShipped, transferList } from '../../providers/common/transfer-list.js';

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

  it('lists everything file by file when a directory cannot be read', () => {
    const list = transferList(join(root, 'does-not-exist'), ['a/b.txt', 'c.txt']);
    expect(list).toEqual({ entries: ['a/b.txt', 'c.txt'], dirs: 0 });
  });
});

describe('extraShipped', () => {
  it('returns sent files outside the manifest, skipping directories and escaped names', () => {
    const out = ['src/', 'src/a.ts', 'src/new.env', 'odd\\#012name', 'top.txt', ''].join('\n');
    expect(extraShipped(out, new Set(['src/a.ts', 'top.txt']))).toEqual(['src/new.env']);
  });
});
