/**
 * The `gh` side of a codespace: `gh codespace ssh --config -c <name>` and the ProxyCommand that
 * carries SSH through gh (providers.md 2.2). gh's config block asks for `StrictHostKeyChecking no`
 * and `UserKnownHostsFile=/dev/null`; we never pass it through. We read the user, the identity file
 * and check the ProxyCommand names this codespace, then build our own target with the per-lease
 * known_hosts and HostKeyAlias (common/ssh-options.ts).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { runProcess } from '../common/exec.js';
import { ProviderError } from '../errors.js';
import { ghEnv, PROVIDER, redact, type Token } from './api.js';

export interface GhSshConfig {
  host: string;
  user: string;
  identityFile: string;
  proxyCommand: string;
}

/** Absolute path of `gh` (config value, or the first match on PATH). */
export function resolveGh(ghPath: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isAbsolute(ghPath)) return existsSync(ghPath) ? ghPath : undefined;
  for (const d of (env.PATH ?? '').split(delimiter)) {
    if (!d.startsWith('/')) continue;
    const p = join(d, ghPath);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The Host blocks of `gh codespace ssh --config` output, keyed by lower-case option. */
export function parseSshConfig(text: string): GhSshConfig[] {
  const blocks: Array<Record<string, string>> = [];
  let cur: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (key === 'host') {
      cur = { host: value };
      blocks.push(cur);
    } else if (cur && !(key in cur)) {
      cur[key] = value;
    }
  }
  return blocks
    .filter((b) => b.user && b.proxycommand)
    .map((b) => ({ host: b.host!, user: b.user!, identityFile: b.identityfile ?? '~/.ssh/codespaces.auto', proxyCommand: b.proxycommand! }));
}

const expandHome = (p: string) => (p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);
const unquote = (s: string) => s.replace(/^"(.*)"$/, '$1');

/** The block for `name`, validated: a plain user, an absolute identity file, a ProxyCommand through gh for this codespace. */
export function pickBlock(blocks: GhSshConfig[], name: string): GhSshConfig & { identityPath: string } {
  const b = blocks.find((x) => x.host.split(/\s+/).some((h) => h === `cs.${name}` || h.startsWith(`cs.${name}.`)));
  if (!b) throw err('not-ready', `gh codespace ssh --config printed no block for ${name} (gh prints only Available codespaces)`);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(b.user)) throw err('invalid', `gh gave an unusable ssh user ${JSON.stringify(b.user)} for ${name}`);
  const words = b.proxyCommand.split(/\s+/);
  const c = words.indexOf('-c');
  if (c < 0 || words[c + 1] !== name || !words.includes('--stdio')) {
    throw err('invalid', `gh's ProxyCommand for ${name} does not proxy to that codespace: ${JSON.stringify(b.proxyCommand.slice(0, 200))}`);
  }
  const identityPath = expandHome(unquote(b.identityFile));
  if (!isAbsolute(identityPath) || /[\x00-\x1f]/.test(identityPath)) throw err('invalid', `gh gave an unusable IdentityFile ${JSON.stringify(b.identityFile)}`);
  return { ...b, identityPath };
}

/** `gh codespace ssh --config -c <name>` with only GH_HOST and the one token in its environment. */
export async function ghSshConfig(gh: string, ghHost: string, name: string, token: Token, signal?: AbortSignal): Promise<GhSshConfig & { identityPath: string }> {
  const res = await runProcess(gh, ['codespace', 'ssh', '--config', '-c', name], { env: ghEnv(ghHost, token), timeoutMs: 120_000, signal });
  if (res.code !== 0 || res.timedOut) {
    throw err('transient', `gh codespace ssh --config -c ${name} exited ${res.code}${res.timedOut ? ' (timed out)' : ''}: ${redact(res.stderr.trim().split('\n').slice(-2).join(' | ')).slice(0, 300)}`);
  }
  return pickBlock(parseSshConfig(res.stdout), name);
}

/** Our ProxyCommand argv: gh itself, for exactly this codespace, with the identity gh manages. */
export function proxyArgv(gh: string, name: string, identityPath: string): string[] {
  return [gh, 'codespace', 'ssh', '-c', name, '--stdio', '--', '-i', identityPath];
}

function err(kind: 'invalid' | 'transient' | 'not-ready', message: string): ProviderError {
  return new ProviderError(kind, message, { provider: PROVIDER, operation: 'gh' });
}
