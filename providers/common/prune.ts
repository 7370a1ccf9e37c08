/**
 * Deleting on the box what a sync shipped before and no longer ships: a shell script for the
 * workdir (as cwd) and the stdin it reads.
 */

/**
 * Removes, relative to the workdir (the cwd), the NUL-separated `f:<file>` and `d:<dir>` entries on
 * stdin: files with `rm -f`, directories with `rmdir` (only if empty). An entry whose parent
 * directory resolves outside the workdir is skipped: the command may have replaced a directory we
 * shipped with a symlink to elsewhere, and nothing there is ours. CDPATH is unset: `cd` would
 * otherwise resolve a relative parent through it, and check a different directory than `rm` uses.
 * Never fails; reports failed file deletes on stderr.
 */
export const PRUNE =
  `{ xargs -0 sh -c 'unset CDPATH; W=$(pwd -P); last=; ok=; for e do p=\${e#?:}; d=\${p%/*}; [ "$d" = "$p" ] && d=.; ` +
  `if [ "$d" != "$last" ]; then last=$d; r=$(cd -P -- "$d" 2>/dev/null && pwd -P) || r=; case "$r/" in "$W"/*) ok=1;; *) ok=;; esac; fi; ` +
  `[ -n "$ok" ] || continue; case $e in f:*) rm -f -- "$p" || echo "durabox: some deletes failed" >&2;; d:*) rmdir -- "$p" 2>/dev/null;; esac; done' durabox-prune; true; }`;

/** Files first (grouped by directory for PRUNE's cache), then directories deepest first. */
export function pruneList(files: readonly string[], dirs: readonly string[]): string {
  return [...[...files].sort().map((f) => `f:${f}`), ...dirs.map((d) => `d:${d}`)].map((e) => `${e}\0`).join('');
}
