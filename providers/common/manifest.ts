/**
 * What a sync ships: in a git work tree the files git would commit or consider (tracked plus
 * untracked-not-ignored), elsewhere a tree walk; then built-in, `.duraboxignore` and caller
 * excludes; then only paths that still exist locally (a deleted tracked file is not shipped).
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProviderError } from '../errors.js';
import { gitSnapshot, type GitCall } from './git-snapshot.js';
import { builtinRules, canPruneDir, isExcluded, parseRules, type IgnoreRule } from './ignore.js';

export const IGNORE_FILE = '.duraboxignore';

export interface ManifestEntry {
  path: string;
  tracked: boolean;
}

export interface Manifest {
  /** Relative `/` paths, sorted, files and symlinks only. */
  paths: string[];
  bytes: number;
  git: boolean;
  /** The paths above that git reports untracked (none outside git): the fingerprint's delta needs them. */
  untracked: string[];
  /** The commit HEAD named when git listed the tree; null outside git or before the first commit. */
  head: string | null;
  /**
   * Paths git's diff against `head` names (modified, staged, deleted), read in the same pass; absent
   * without a head or when the diff failed. The fingerprint hashes these and the untracked paths.
   */
  headDiff?: string[];
}

export function excludeRules(localRoot: string, excludes: readonly string[] = []): IgnoreRule[] {
  const file = join(localRoot, IGNORE_FILE);
  return [
    ...builtinRules(),
    ...(existsSync(file) ? parseRules(readFileSync(file, 'utf8')) : []),
    ...excludes.flatMap((e) => parseRules(e)),
  ];
}

export async function buildManifest(localRoot: string, excludes: readonly string[] = [], signal?: AbortSignal): Promise<Manifest> {
  const rules = excludeRules(localRoot, excludes);
  const fromGit = await gitEntries(localRoot, signal);
  const entries = fromGit?.entries ?? walk(localRoot, rules);
  const git = fromGit !== undefined;
  const paths: string[] = [];
  const untracked: string[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (isExcluded(rules, e.path, e.tracked)) continue;
    let st;
    try {
      st = lstatSync(join(localRoot, e.path));
    } catch {
      continue; // deleted locally (tracked but gone): not shipped, and pruned remotely if shipped before
    }
    if (!st.isFile() && !st.isSymbolicLink()) continue; // submodule gitlinks and other directories
    paths.push(e.path);
    if (git && !e.tracked) untracked.push(e.path);
    bytes += st.size;
  }
  paths.sort();
  return { paths, bytes, git, untracked, head: fromGit?.head ?? null, headDiff: fromGit?.headDiff };
}

/**
 * Whether `root` is in a git work tree, and its HEAD commit, from rev-parse's answer (see
 * git-snapshot.ts): `true`/`false` twice (in a work tree, in a git directory), then the commit.
 * Before the first commit it exits 1; a work tree whose HEAD cannot be read (a broken ref) is still
 * a git tree: its ignore rules hold, and the fingerprint then hashes every file. Outside any
 * repository git says so (exit 128) and the tree is walked. Any other refusal (dubious ownership, a
 * broken config, a work tree configured bare) fails: a walk would ship what the repository's
 * .gitignore keeps out (.env files, keys).
 */
function gitTree(root: string, res: GitCall): { head: string | null } | undefined {
  if (res.code === 127 && !res.stdout) {
    // sh found no git: whether the tree is a repository (and what it ignores) cannot be known.
    throw new ProviderError('invalid', `git is not installed on this machine (or not on PATH); durabox reads ${root}'s ignore rules with it`, {
      provider: 'common',
      operation: 'sync',
    });
  }
  const [inWorkTree, inGitDir, sha] = res.stdout.split('\n');
  if (inWorkTree === 'true') return { head: res.code === 0 && sha && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null };
  if (inWorkTree === 'false' && inGitDir === 'true') return undefined; // a .git or bare directory itself: walked, as before
  if (!inWorkTree && /^fatal: not a git repository/m.test(res.stderr)) return undefined;
  const why = res.stderr.trim().split('\n')[0] || (inWorkTree === 'false' ? 'git sees no work tree here (core.bare?)' : `git exited ${res.code}`);
  const hint = /dubious ownership/.test(res.stderr) ? '; if it is yours, run: git config --global --add safe.directory <that repository>' : '';
  throw new ProviderError('invalid', `git cannot read the repository holding ${root} (${why})${hint}; not syncing it without its ignore rules`, {
    provider: 'common',
    operation: 'sync',
  });
}

async function gitEntries(
  root: string,
  signal?: AbortSignal,
): Promise<{ entries: ManifestEntry[]; head: string | null; headDiff?: string[] } | undefined> {
  const snap = await gitSnapshot(root, signal);
  const tree = gitTree(root, snap.revParse);
  if (!tree) return undefined;
  // -t tags each path: H/h tracked, S/s skip-worktree, M unmerged, ? untracked.
  const res = snap.lsFiles;
  if (!res || res.code !== 0) {
    throw new ProviderError('invalid', `git ls-files failed in ${root}: ${res?.stderr.trim() ?? 'it did not run'}`, { provider: 'common', operation: 'sync' });
  }
  const seen = new Map<string, ManifestEntry>();
  const hidden: string[] = [];
  for (const rec of res.stdout.split('\0')) {
    if (rec.length < 3) continue;
    const tag = rec[0]!;
    const path = rec.slice(2);
    if (tag === 'S' || tag === 's') hidden.push(path);
    seen.set(path, { path, tracked: tag !== '?' });
  }
  if (hidden.length > 0) {
    // Sparse checkout / skip-worktree hides in-scope files from the manifest: refuse rather than ship a partial tree.
    throw new ProviderError('invalid', `${hidden.length} skip-worktree/sparse paths in ${root} (e.g. ${hidden[0]}); disable sparse checkout to sync`, {
      provider: 'common',
      operation: 'sync',
    });
  }
  // A diff that failed leaves the delta unknown: the fingerprint then hashes every file.
  const headDiff = tree.head && snap.diff?.code === 0 ? snap.diff.stdout.split('\0').filter(Boolean) : undefined;
  return { entries: [...seen.values()], head: tree.head, headDiff };
}

function walk(root: string, rules: readonly IgnoreRule[]): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const visit = (rel: string) => {
    for (const d of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (!canPruneDir(rules, path)) visit(path);
      } else out.push({ path, tracked: false });
    }
  };
  visit('');
  return out;
}
