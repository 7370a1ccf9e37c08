/**
 * Pinning the box's host key. Trust on first use happens exactly once per lease: against the empty
 * per-lease known_hosts, with `accept-new`; the key ssh recorded is read back and returned so the
 * lease stores it. Everything afterwards runs with `StrictHostKeyChecking=yes`.
 *
 * A mismatch surfaces as ProviderError kind `ownership`: the endpoint is answering with a machine
 * other than the one the lease recorded, so nothing may be sent to it and retrying cannot help.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { SshTarget } from '../adapter.js';
import { ProviderError } from '../errors.js';
import { sshExec } from './remote.js';
import { knownHostsPath, validateTarget, type SshOptionMode } from './ssh-options.js';

/** `type base64` pairs recorded for `alias` in a known_hosts file (plain, unhashed entries). */
export function readKnownHostKeys(file: string, alias: string): string[] {
  if (!existsSync(file)) return [];
  const keys: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [hosts, type, b64] = line.trim().split(/\s+/);
    if (!hosts || hosts.startsWith('#') || !type || !b64) continue;
    if (hosts.split(',').includes(alias)) keys.push(`${type} ${b64}`);
  }
  return keys;
}

/**
 * Return `target` with `hostKeys` filled. Already pinned: verify by connecting (a changed key
 * throws `ownership`). Not pinned but this lease already learned a key on this worker: reuse it
 * rather than trusting a second "first" use. Otherwise: first use.
 */
export async function pinHostKey(target: SshTarget, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<SshTarget> {
  validateTarget(target);
  if (target.hostKeys.length === 0) {
    const learned = readKnownHostKeys(knownHostsPath(target), target.hostKeyAlias);
    if (learned.length > 0) target = { ...target, hostKeys: learned };
  }
  if (target.hostKeys.length > 0) {
    await probe(target, opts, {});
    return target;
  }
  const file = knownHostsPath(target);
  writeFileSync(file, '', { mode: 0o600 });
  await probe(target, opts, { hostKeyPolicy: 'accept-new', multiplex: false });
  const hostKeys = readKnownHostKeys(file, target.hostKeyAlias);
  if (hostKeys.length === 0) {
    throw new ProviderError('transient', `connected to ${target.hostKeyAlias} but ssh recorded no host key`, {
      provider: 'common',
      operation: 'pinHostKey',
    });
  }
  return { ...target, hostKeys };
}

async function probe(target: SshTarget, opts: { signal?: AbortSignal; timeoutMs?: number }, mode: SshOptionMode): Promise<void> {
  const res = await sshExec(target, 'true', { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 30_000, mode });
  if (res.code !== 0) {
    throw new ProviderError('transient', `probe on ${target.hostKeyAlias} exited ${res.code}: ${res.stderr.trim().slice(0, 200)}`, {
      provider: 'common',
      operation: 'pinHostKey',
      status: res.code,
    });
  }
}
