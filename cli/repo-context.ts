/** Facts about the local working tree a lease syncs: its root, a name for the remote dir, its origin. */
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { basename } from 'node:path';

export interface RepoContext {
  /** Git top level, or the current directory outside a repository. */
  root: string;
  /** Remote directory name: the root's base name, reduced to safe characters. */
  name: string;
  /** `owner/name` style origin for search and display, with any credentials stripped. */
  repo?: string;
}

function git(args: string[], cwd: string): string | undefined {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Keep host/path of an origin URL and drop userinfo, so a token in a remote URL never spreads. */
export function safeOrigin(url: string): string | undefined {
  const scp = /^[^@/]+@([^:]+):(.+)$/.exec(url);
  if (scp) return `${scp[1]}/${scp[2].replace(/\.git$/, '')}`;
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname.replace(/\.git$/, '')}`;
  } catch {
    return undefined;
  }
}

/** `withOrigin: false` skips a git call for commands that never start a lease (its only reader). */
export function repoContext(cwd = process.cwd(), { withOrigin = true } = {}): RepoContext {
  const root = git(['rev-parse', '--show-toplevel'], cwd) ?? cwd;
  const origin = withOrigin ? git(['remote', 'get-url', 'origin'], root) : undefined;
  const name = basename(root).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'work';
  return { root, name, repo: origin ? safeOrigin(origin) : undefined };
}

export function ownerName(): string {
  try {
    return `${userInfo().username}@${process.env.HOSTNAME ?? 'local'}`.slice(0, 100);
  } catch {
    return 'unknown';
  }
}
