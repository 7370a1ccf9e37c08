/**
 * Every git call a manifest and its fingerprint need, in one process: `sh` runs them in turn and
 * frames each one's output, so the worker forks once instead of three times. A fork copies the
 * forking process's page tables: 12-18 ms from a worker's 250 MB process against 2 ms from a small
 * one, and a warm rerun paid it three times before its command started.
 *
 * The calls, each only when the one before allows it:
 *   1. `rev-parse --is-inside-work-tree --is-inside-git-dir --verify -q HEAD`: a work tree? its HEAD;
 *   2. in a work tree, `ls-files -z -t --cached --others --exclude-standard`: what git would ship;
 *   3. with a HEAD, `diff --name-only --no-renames --relative -z <that HEAD>`: what differs from it.
 * The diff names the commit rev-parse read, not `HEAD`: a commit landing meanwhile must not mix
 * one commit's files with another's changes.
 */
import { randomBytes } from 'node:crypto';
import { childEnv } from './child-env.js';
import { runProcess } from './exec.js';

export interface GitCall {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitSnapshot {
  revParse: GitCall;
  /** Absent outside a work tree. */
  lsFiles?: GitCall;
  /** Absent without a readable HEAD. */
  diff?: GitCall;
}

// $1 = the tree, $2 = this call's marker. After each call, a line with the marker and its exit code
// on stdout and a line with the marker on stderr close what it printed (a newline is added before
// each, so the output keeps its own last byte). A marker is 128 random bits: no path names it.
// (No NUL in the frame: dash's printf ends its format at one.)
const SCRIPT = `
done_() { printf '\\n%s:%s\\n' "$2" "$1"; printf '\\n%s\\n' "$2" >&2; }
r=$(git -C "$1" rev-parse --is-inside-work-tree --is-inside-git-dir --verify -q HEAD); c=$?
printf '%s' "$r"; done_ $c "$2"
case $r in true*) ;; *) exit 0 ;; esac
git -C "$1" ls-files -z -t --cached --others --exclude-standard; done_ $? "$2"
[ $c -eq 0 ] || exit 0
h=\${r##*"
"}
git -C "$1" diff --name-only --no-renames --relative -z "$h" --; done_ $? "$2"
`;

export async function gitSnapshot(root: string, signal?: AbortSignal): Promise<GitSnapshot> {
  const marker = randomBytes(16).toString('hex');
  // C locale: git's "not a git repository" is read by the caller.
  const res = await runProcess('sh', ['-c', SCRIPT, 'durabox-git', root, marker], { signal, env: childEnv({ LC_ALL: 'C' }) });
  const calls: GitCall[] = [];
  const outs = res.stdout.split(new RegExp(`\\n${marker}:(\\d+)\\n`));
  const errs = res.stderr.split(`\n${marker}\n`);
  for (let i = 0; i + 1 < outs.length; i += 2) calls.push({ stdout: outs[i]!, code: Number(outs[i + 1]), stderr: errs[i / 2] ?? '' });
  // Without even rev-parse's marker the shell itself failed: report what it said, as git would.
  const [revParse = { code: res.code ?? 1, stdout: '', stderr: res.stderr }, lsFiles, diff] = calls;
  return { revParse, lsFiles, diff };
}
