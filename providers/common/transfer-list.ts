/**
 * The list rsync is given for a sync: the manifest with every directory whose whole local content
 * is in the manifest named once instead of file by file (rsync then recurses into it).
 *
 * Why: rsync's `--files-from` costs about 0.1 ms per name on the sender (it reads the list a byte
 * at a time and opens each name's parent directories again), which made a 10,000-file first sync
 * 1.6× a plain recursive rsync. Naming covered directories keeps the exact manifest semantics
 * while rsync walks most of the tree on its fast recursive path.
 *
 * A directory counts as covered only if, when we looked, every entry in it was a manifest file or
 * symlink or a covered directory: one ignored file, excluded path, empty directory or special file
 * anywhere beneath and its files are listed one by one. A file created in a covered directory
 * between this walk and rsync's would ride along; `extraShipped` finds it in rsync's output so the
 * sync can delete it on the box again.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface TransferList {
  /** Relative paths for `--files-from` (with `-r`): files, symlinks and covered directories. */
  entries: string[];
  /** How many of them are covered directories. */
  dirs: number;
}

/** `a/b/c.txt` → `['a', 'a/b']`, outermost first. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

export function transferList(localRoot: string, manifestPaths: readonly string[]): TransferList {
  const files = new Set(manifestPaths);
  // Every directory that holds a manifest entry somewhere beneath it, with those entries' count.
  const below = new Map<string, number>();
  for (const p of manifestPaths) for (const d of ancestors(p)) below.set(d, (below.get(d) ?? 0) + 1);
  const covered = new Map<string, boolean>();
  const isCovered = (dir: string): boolean => {
    const known = covered.get(dir);
    if (known !== undefined) return known;
    // Never a symlink to a directory (rsync would send the link, not what the manifest lists
    // beneath it), nor a directory that is itself a manifest entry.
    let ok = below.has(dir) && !files.has(dir);
    if (ok) {
      let entries;
      try {
        entries = lstatSync(join(localRoot, dir)).isDirectory() ? readdirSync(join(localRoot, dir), { withFileTypes: true }) : undefined;
      } catch {
        entries = undefined;
      }
      // Unreadable, or more entries than manifest paths beneath it: something here is not shipped.
      ok = entries !== undefined && entries.length <= below.get(dir)!;
      for (const e of entries ?? []) {
        if (!ok) break;
        const rel = `${dir}/${e.name}`;
        ok = e.isDirectory() ? isCovered(rel) : (e.isFile() || e.isSymbolicLink()) && files.has(rel) && !below.has(rel);
      }
    }
    covered.set(dir, ok);
    return ok;
  };

  const entries: string[] = [];
  let dirs = 0;
  const emitted = new Set<string>();
  for (const p of manifestPaths) {
    // The outermost covered ancestor stands for the file; the root itself is never named whole.
    const top = ancestors(p).find(isCovered);
    if (top === undefined) entries.push(p);
    else if (!emitted.has(top)) {
      emitted.add(top);
      entries.push(top);
      dirs++;
    }
  }
  return { entries, dirs };
}

/**
 * rsync's `--out-format`: a prefix no file name can forge (rsync escapes newlines in names), the
 * itemized change (`>f+++++++++` a new file, `cd+++++++++` a directory it created, ...), the name.
 */
export const SENT_PREFIX = 'durabox-sent:';
export const OUT_FORMAT = `${SENT_PREFIX}%i %n`;

/**
 * What rsync reports it sent (lines of `OUT_FORMAT`) beyond the manifest: files and symlinks
 * created in a covered directory after the walk, and the directories rsync created for them that
 * no manifest path needs (deepest first, for `rmdir`). A directory that was already on the box is
 * never listed: the command may have made it. Other stdout lines (rsync's own messages) are
 * ignored.
 */
export function extraShipped(rsyncStdout: string, manifestPaths: ReadonlySet<string>): { files: string[]; dirs: string[] } {
  const needed = new Set<string>();
  for (const p of manifestPaths) for (const d of ancestors(p)) needed.add(d);
  const files: string[] = [];
  const dirs: string[] = [];
  for (const line of rsyncStdout.split('\n')) {
    const m = /^(\S{2,}) (.+)$/.exec(line.startsWith(SENT_PREFIX) ? line.slice(SENT_PREFIX.length) : '');
    if (!m) continue;
    const [, change, printed] = m as unknown as [string, string, string];
    const name = unescapeRsyncName(printed);
    if (change[1] === 'd') {
      const dir = name.replace(/\/+$/, '');
      if (change.startsWith('cd+') && dir && dir !== '.' && !needed.has(dir)) dirs.push(dir);
    } else if (!manifestPaths.has(name)) files.push(name);
  }
  return { files, dirs: dirs.sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1)) };
}

/**
 * rsync prints a byte it will not print as-is as `\#ooo` (octal), and a literal backslash that
 * would read as such an escape as `\#134` (man rsync, --8-bit-output): decoding is exact.
 */
export function unescapeRsyncName(printed: string): string {
  if (!printed.includes('\\#')) return printed;
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of printed.matchAll(/\\#([0-7]{3})/g)) {
    parts.push(Buffer.from(printed.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 8)]));
    last = m.index! + m[0].length;
  }
  parts.push(Buffer.from(printed.slice(last), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}
