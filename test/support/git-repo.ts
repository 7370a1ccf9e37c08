/** Git in a test repository: a fixed identity, so commits work on a machine with none configured. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `git -C repo …` with a test identity; its stdout, trimmed. */
export const gitIn = (repo: string, ...args: string[]): string =>
  execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();

/** A new empty repository `repo` in a fresh temp directory named by `prefix`. */
export function newRepo(prefix: string): string {
  const repo = join(mkdtempSync(join(tmpdir(), prefix)), 'repo');
  execFileSync('git', ['init', '-q', repo]);
  return repo;
}
