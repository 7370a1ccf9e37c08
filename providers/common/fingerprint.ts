/**
 * Sync fingerprint: a SHA-256 that changes whenever what a sync would put on the box changes, so a
 * rerun with nothing changed locally can skip rsync (see providers.md §3 "Fingerprint skip").
 *
 * Hashed, in order: a format version, the remote workdir, git HEAD (in a git tree), the
 * NUL-separated manifest, each exclude rule, and per file `mode size sha256(content)` for
 *   - git trees: every manifest path that differs from HEAD (modified, staged, untracked);
 *     unchanged tracked files are covered by HEAD itself;
 *   - other trees (or a repo without commits): every manifest path, plus its mtime.
 * Symlinks hash their target instead of content. Reading only changed files keeps this fast on
 * large clean trees; the git calls cost a few milliseconds.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { IgnoreRule } from './ignore.js';

/** Bump when the recipe below changes: an old fingerprint on a box then never matches. */
export const FINGERPRINT_VERSION = 'durabox-sync-fingerprint/1';

export interface FingerprintInput {
  localRoot: string;
  workdir: string;
  /** Manifest paths (sorted, relative). */
  paths: readonly string[];
  git: boolean;
  /** Manifest paths git reported untracked when it listed them (the manifest's `untracked`). */
  untracked: readonly string[];
  /** HEAD as the manifest's git call saw it (null: no commit yet, or not git). */
  head: string | null;
  /** What git's diff against that HEAD named, read with the manifest (the manifest's `headDiff`). */
  headDiff?: readonly string[];
  rules: readonly IgnoreRule[];
}

export function syncFingerprint(input: FingerprintInput): string {
  const h = createHash('sha256');
  const field = (name: string, value: string | Buffer) => {
    h.update(`${name}\0${Buffer.byteLength(value)}\0`);
    h.update(value);
  };
  field('version', FINGERPRINT_VERSION);
  field('workdir', input.workdir);
  const head = input.git ? (input.head ?? undefined) : undefined;
  field('head', head ?? '-');
  field('manifest', input.paths.map((p) => `${p}\0`).join(''));
  for (const r of input.rules) field('rule', JSON.stringify(r));

  const inManifest = new Set(input.paths);
  // Changes against the commit hashed above (the diff named it), and the untracked files.
  const gitDelta = head && input.headDiff ? [...new Set([...input.headDiff, ...input.untracked])] : undefined;
  // Without a usable HEAD or diff, every file counts as changed (and its mtime too).
  const changed = gitDelta ? gitDelta.filter((p) => inManifest.has(p)).sort() : input.paths;
  for (const p of changed) field('file', fileFacts(input.localRoot, p, !gitDelta));
  return h.digest('hex');
}

function fileFacts(root: string, rel: string, withMtime: boolean): string {
  const abs = join(root, rel);
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    return `${rel}\0missing`;
  }
  let content: string;
  try {
    content = st.isSymbolicLink()
      ? `link:${readlinkSync(abs)}`
      : createHash('sha256').update(readFileSync(abs)).digest('hex');
  } catch {
    content = 'unreadable';
  }
  return `${rel}\0${st.mode.toString(8)}\0${st.size}\0${withMtime ? st.mtimeMs : ''}\0${content}`;
}
