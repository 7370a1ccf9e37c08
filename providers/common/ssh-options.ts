/**
 * OpenSSH options for an SshTarget. Every connection durabox makes goes through these, so the
 * host-key policy lives here once: per-lease known_hosts, lease-scoped alias, no global files, no
 * key updates, strict checking except for the single trust-on-first-use probe in host-key.ts.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SshTarget } from '../adapter.js';
import { ProviderError } from '../errors.js';
import { childEnv } from './child-env.js';
import { escapePercent, rsyncQuote, shellQuoteArgv } from './quote.js';
import { leaseDir, safeSegment } from './state-dir.js';

export const HOST_KEY_ALIAS_PREFIX = 'durabox-';

/** Adapters name targets this way; the alias is also how we find the lease's known_hosts file. */
export function hostKeyAliasFor(leaseId: string): string {
  return `${HOST_KEY_ALIAS_PREFIX}${safeSegment(leaseId)}`;
}

export function leaseIdFromAlias(alias: string): string {
  if (!alias.startsWith(HOST_KEY_ALIAS_PREFIX)) throw invalid(`hostKeyAlias ${JSON.stringify(alias)} is not durabox-<leaseId>`);
  return safeSegment(alias.slice(HOST_KEY_ALIAS_PREFIX.length));
}

const HOST_KEY = /^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/;
const NAME = /^[^\s\x00-\x1f@-][^\s\x00-\x1f@]*$/; // no leading '-', no whitespace, no '@'

/** Refuse values that ssh could read as options or that would break a known_hosts line. */
export function validateTarget(t: SshTarget): void {
  if (!NAME.test(t.host)) throw invalid(`bad ssh host ${JSON.stringify(t.host)}`);
  if (!/^[^\s\x00-\x1f-][^\s\x00-\x1f]*$/.test(t.user)) throw invalid(`bad ssh user ${JSON.stringify(t.user)}`);
  leaseIdFromAlias(t.hostKeyAlias);
  for (const k of t.hostKeys) if (!HOST_KEY.test(k)) throw invalid(`bad pinned host key ${JSON.stringify(k)}`);
  if (!t.workRoot.startsWith('/')) throw invalid(`workRoot must be absolute: ${JSON.stringify(t.workRoot)}`);
}

export function knownHostsPath(t: SshTarget): string {
  return join(leaseDir(leaseIdFromAlias(t.hostKeyAlias)), 'known_hosts');
}

/** Write the pinned keys (possibly none) as the lease's whole known_hosts file, atomically. */
export function writeKnownHosts(t: SshTarget): string {
  const path = knownHostsPath(t);
  const body = t.hostKeys.map((k) => `${t.hostKeyAlias} ${k}\n`).join('');
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, body, { mode: 0o600 });
  renameSync(tmp, path);
  return path;
}

/**
 * Control sockets must stay under ~104 bytes, so they live in /tmp/durabox-<uid>/ named by a hash
 * of everything that makes a connection distinct (a different pin must never reuse a master).
 */
export function controlPath(t: SshTarget): string {
  const uid = process.getuid?.() ?? 0;
  const dir = `/tmp/durabox-${uid}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  // /tmp is shared: a directory someone else planted could capture our sessions.
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw invalid(`${dir} is not a private directory owned by uid ${uid}; remove it`);
  }
  const id = createHash('sha256')
    .update(JSON.stringify([knownHostsPath(t), t.hostKeyAlias, t.user, t.host, t.port, t.keyPath, t.hostKeys, t.proxyCommand ?? []]))
    .digest('hex')
    .slice(0, 16);
  return join(dir, id);
}

export interface SshOptionMode {
  /** `accept-new` only for the first-use probe against an empty per-lease file. */
  hostKeyPolicy?: 'pinned' | 'accept-new';
  /** Reuse a ControlMaster (default true; off for the first-use probe). */
  multiplex?: boolean;
}

/** All options, without the `ssh` binary or the destination. Materializes known_hosts. */
export function sshOptions(t: SshTarget, mode: SshOptionMode = {}): string[] {
  validateTarget(t);
  const policy = mode.hostKeyPolicy ?? 'pinned';
  const multiplex = mode.multiplex ?? policy === 'pinned';
  const kh = policy === 'pinned' ? writeKnownHosts(t) : knownHostsPath(t);
  const o = (kv: string) => ['-o', kv];
  const args = [
    '-F', 'none', // the user's ~/.ssh/config must not inject ProxyJump, hashing or other hosts' keys
    '-i', escapePercent(t.keyPath),
    '-p', String(t.port),
    ...o(`User=${t.user}`),
    ...o('IdentitiesOnly=yes'),
    ...o('BatchMode=yes'),
    ...o('ConnectTimeout=10'),
    ...o('ServerAliveInterval=15'),
    ...o('ServerAliveCountMax=2'),
    ...o('ForwardAgent=no'),
    ...o('ForwardX11=no'),
    // '^' puts the fast kex first and keeps the defaults after it (ssh_config(5)).
    ...o('KexAlgorithms=^curve25519-sha256'),
    ...o(`HostKeyAlias=${t.hostKeyAlias}`),
    ...o(`UserKnownHostsFile=${escapePercent(kh)}`),
    ...o('GlobalKnownHostsFile=none'),
    ...o('UpdateHostKeys=no'),
    ...o('CheckHostIP=no'),
    ...o('HashKnownHosts=no'),
    ...o(`StrictHostKeyChecking=${policy === 'pinned' ? 'yes' : 'accept-new'}`),
    ...o('LogLevel=ERROR'),
  ];
  if (t.proxyCommand?.length) args.push(...o(`ProxyCommand=${escapePercent(shellQuoteArgv(t.proxyCommand))}`));
  if (multiplex) {
    args.push(...o('ControlMaster=auto'), ...o('ControlPersist=60s'), ...o(`ControlPath=${escapePercent(controlPath(t))}`));
  } else {
    args.push(...o('ControlMaster=no'), ...o('ControlPath=none'));
  }
  return args;
}

/**
 * Environment for an `ssh` or `rsync` child reaching `t`: the stripped child environment, plus the
 * variables the target's ProxyCommand needs (`proxyEnv`, names only), taken from this process.
 */
export function sshEnv(t: SshTarget): NodeJS.ProcessEnv {
  if (!t.proxyEnv?.length) return childEnv();
  if (!t.proxyCommand?.length) throw invalid('proxyEnv is only allowed with a proxyCommand');
  const extra: Record<string, string | undefined> = {};
  for (const name of t.proxyEnv) {
    if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(name)) throw invalid(`bad proxyEnv name ${JSON.stringify(name)}`);
    extra[name] = process.env[name];
  }
  return childEnv(extra);
}

/** Options plus `-- host`: append a remote command string to get a full `ssh` argv. */
export function sshBaseArgs(t: SshTarget, mode?: SshOptionMode): string[] {
  return [...sshOptions(t, mode), '--', t.host];
}

/** Full argv for `ssh` running one remote command string. */
export function sshArgv(t: SshTarget, remoteCommand: string, mode?: SshOptionMode): string[] {
  return [...sshOptions(t, mode), '--', t.host, remoteCommand];
}

/** The `-e` value for rsync (rsync appends `-l user host rsync --server …`). */
export function rsyncRshCommand(t: SshTarget): string {
  return ['ssh', ...sshOptions(t)].map(rsyncQuote).join(' ');
}

/** A command line a human can paste (`durabox ssh ID`). */
export function sshCommandLine(t: SshTarget): string {
  return shellQuoteArgv(['ssh', ...sshOptions(t), '--', t.host]);
}

function invalid(message: string): ProviderError {
  return new ProviderError('invalid', message, { provider: 'common', operation: 'ssh-options' });
}
