/**
 * The AGX gateway's host key, pinned once per gateway `host:port` rather than per lease
 * (providers.md 1.4, "shared gateways"): per-lease first-use trust would accept an impostor gateway
 * for every new lease.
 *
 * Where the pin comes from, first match wins:
 *   1. `agx.hostKey` as `type base64`: used as is.
 *   2. `agx.hostKey` as `SHA256:…`: the gateway's keys are scanned (key exchange only, no login) and
 *      only the ones with that fingerprint are pinned; none matching is an `ownership` error.
 *   3. The user's own known_hosts entry for the gateway (read with `ssh-keygen -F`, never written).
 *   4. The key recorded on first use in `<stateDir>/agx/gateway-keys.json`.
 *   5. First use: scan the gateway, record what it presented (0600, under a lock; an entry another
 *      lease recorded meanwhile wins), and pin that.
 * The SSH connections themselves then run with `StrictHostKeyChecking=yes` against exactly these
 * keys (providers/common/ssh-options.ts), so a gateway presenting anything else is refused.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from '../errors.js';
import { runProcess } from '../common/exec.js';
import { ensureStateSubdir } from '../common/state-dir.js';
import { HOST_KEY_FINGERPRINT, HOST_KEY_LINE, type AgxConfig } from './config.js';

const PROVIDER = 'agx';
const FILE_VERSION = 1;

export type PinSource = 'config' | 'config-fingerprint' | 'known_hosts' | 'first-use-recorded' | 'first-use-new' | 'none';

export interface GatewayPin {
  /** `type base64` pairs; empty only for source `none` (doctor, nothing known yet). */
  keys: string[];
  source: PinSource;
  /** One line for humans: where the pin came from. */
  detail: string;
}

interface RecordedPin {
  keys: string[];
  recordedAt: string;
}

interface PinFile {
  version: number;
  gateways: Record<string, RecordedPin>;
}

/** The key of a gateway in the pin file and in messages. */
export const gatewayId = (host: string, port: number) => `${host.toLowerCase().replace(/\.$/, '')}:${port}`;

/** `<stateDir>/agx/gateway-keys.json` (the directory is created 0700). */
export function gatewayKeysFile(): string {
  return join(ensureStateSubdir('agx'), 'gateway-keys.json');
}

/** OpenSSH's `SHA256:<unpadded base64>` fingerprint of a `type base64` key. */
export function fingerprint(key: string): string {
  const b64 = key.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

const sameFingerprint = (a: string, b: string) => a.replace(/=+$/, '') === b.replace(/=+$/, '');

/** Keys the gateway presents, by key exchange only (`ssh-keyscan`: no login, so nothing is provisioned). */
export async function scanGatewayKeys(host: string, port: number, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string[]> {
  const secs = Math.max(1, Math.round((opts.timeoutMs ?? 10_000) / 1000));
  const res = await runProcess('ssh-keyscan', ['-T', String(secs), '-p', String(port), '--', host], {
    signal: opts.signal,
    timeoutMs: (secs + 5) * 1000,
  }).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ProviderError('invalid', 'ssh-keyscan not found on PATH (install openssh-client)', { provider: PROVIDER, operation: 'gatewayPin' });
    }
    throw e;
  });
  const keys = [...new Set(keyColumns(res.stdout))].sort();
  if (keys.length === 0) {
    const why = res.timedOut ? 'timed out' : (res.stderr.trim().split('\n').filter((l) => !l.startsWith('#')).pop() ?? `exit ${res.code}`);
    throw new ProviderError('transient', `AGX gateway ${gatewayId(host, port)} presented no host key (${why || 'no answer'})`, {
      provider: PROVIDER,
      operation: 'gatewayPin',
    });
  }
  return keys;
}

/** The user's own trusted keys for the gateway; `ssh-keygen -F` also matches hashed entries. */
export async function knownHostsKeys(file: string, host: string, port: number): Promise<string[]> {
  if (!existsSync(file)) return [];
  const name = port === 22 ? host : `[${host}]:${port}`;
  const res = await runProcess('ssh-keygen', ['-F', name, '-f', file]).catch(() => undefined);
  if (!res || res.code !== 0) return [];
  const lines = res.stdout.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  // A revoked or CA-marked entry cannot be pinned as a plain key: better no pin than a wrong one.
  if (lines.some((l) => l.startsWith('@'))) return [];
  return [...new Set(keyColumns(lines.join('\n')))].sort();
}

/** `host type base64 [comment]` lines → `type base64`. */
function keyColumns(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/).slice(1, 3).join(' '))
    .filter((k) => HOST_KEY_LINE.test(k));
}

export function readPinFile(file = gatewayKeysFile()): PinFile {
  if (!existsSync(file)) return { version: FILE_VERSION, gateways: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // Never silently start over: that would turn a corrupted pin into a fresh first use.
    throw new ProviderError('invalid', `${file} is not valid JSON; fix or remove it (it holds the AGX gateway pins)`, {
      provider: PROVIDER,
      operation: 'gatewayPin',
    });
  }
  const f = parsed as Partial<PinFile>;
  if (f.version !== FILE_VERSION || typeof f.gateways !== 'object' || f.gateways === null) {
    throw new ProviderError('invalid', `${file} has an unknown format; fix or remove it`, { provider: PROVIDER, operation: 'gatewayPin' });
  }
  return f as PinFile;
}

/** The key recorded on first use for this gateway, if any. */
export function recordedPin(host: string, port: number, file = gatewayKeysFile()): RecordedPin | undefined {
  const rec = readPinFile(file).gateways[gatewayId(host, port)];
  if (!rec) return undefined;
  if (!Array.isArray(rec.keys) || rec.keys.length === 0 || !rec.keys.every((k) => typeof k === 'string' && HOST_KEY_LINE.test(k))) {
    throw new ProviderError('invalid', `${file}: entry ${gatewayId(host, port)} is malformed; fix or remove it`, {
      provider: PROVIDER,
      operation: 'gatewayPin',
    });
  }
  return rec;
}

/**
 * Record `keys` for the gateway unless an entry exists already; returns the entry now on record.
 * The first writer wins: a concurrent first use never replaces a recorded key.
 */
export async function recordFirstUse(host: string, port: number, keys: string[], file = gatewayKeysFile()): Promise<RecordedPin> {
  return withLock(`${file}.lock`, () => {
    const data = readPinFile(file);
    const id = gatewayId(host, port);
    const existing = data.gateways[id];
    if (existing) return existing;
    const rec: RecordedPin = { keys, recordedAt: new Date().toISOString() };
    data.gateways[id] = rec;
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    return rec;
  });
}

async function withLock<T>(lock: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A holder that died leaves its lock behind; the critical section takes milliseconds.
      const age = Date.now() - (statSafe(lock) ?? Date.now());
      if (age > 30_000) rmSync(lock, { force: true });
      else if (Date.now() > deadline) {
        throw new ProviderError('transient', `timed out waiting for ${lock}`, { provider: PROVIDER, operation: 'gatewayPin' });
      } else await sleep(25);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function statSafe(p: string): number | undefined {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
}

export interface ResolveOptions {
  /** Scan and record the gateway key when nothing is known yet (false for doctor: it writes nothing). */
  firstUse: boolean;
  signal?: AbortSignal;
  scanTimeoutMs?: number;
}

type PinSettings = Pick<AgxConfig, 'gateway' | 'port' | 'hostKey' | 'knownHostsFile'>;

/** The gateway's pinned keys, before any login (see the module comment for the order). */
export async function resolveGatewayPin(cfg: PinSettings, opts: ResolveOptions): Promise<GatewayPin> {
  const { gateway: host, port } = cfg;
  const id = gatewayId(host, port);
  if (cfg.hostKey && HOST_KEY_LINE.test(cfg.hostKey)) {
    return { keys: [cfg.hostKey], source: 'config', detail: `pinned by agx.hostKey (${fingerprint(cfg.hostKey)})` };
  }
  if (cfg.hostKey && HOST_KEY_FINGERPRINT.test(cfg.hostKey)) {
    const presented = await scanGatewayKeys(host, port, { signal: opts.signal, timeoutMs: opts.scanTimeoutMs });
    const keys = presented.filter((k) => sameFingerprint(fingerprint(k), cfg.hostKey!));
    if (keys.length === 0) {
      throw new ProviderError(
        'ownership',
        `AGX gateway ${id} presented ${presented.map(fingerprint).join(', ')}, but agx.hostKey pins ${cfg.hostKey}: refusing to connect`,
        { provider: PROVIDER, operation: 'gatewayPin' },
      );
    }
    return { keys, source: 'config-fingerprint', detail: `pinned by agx.hostKey fingerprint ${cfg.hostKey}` };
  }
  const known = await knownHostsKeys(cfg.knownHostsFile, host, port);
  if (known.length > 0) {
    return { keys: known, source: 'known_hosts', detail: `from ${cfg.knownHostsFile} (${known.map(fingerprint).join(', ')})` };
  }
  const file = gatewayKeysFile();
  const rec = recordedPin(host, port, file);
  if (rec) {
    return {
      keys: rec.keys,
      source: 'first-use-recorded',
      detail: `recorded on first use ${rec.recordedAt} in ${file} (${rec.keys.map(fingerprint).join(', ')})`,
    };
  }
  if (!opts.firstUse) {
    return {
      keys: [],
      source: 'none',
      detail: `not known yet: the first lease trusts the key ${id} presents, records it in ${file} and refuses any other key afterwards; set agx.hostKey to pin it up front`,
    };
  }
  const scanned = await scanGatewayKeys(host, port, { signal: opts.signal, timeoutMs: opts.scanTimeoutMs });
  const now = await recordFirstUse(host, port, scanned, file);
  return {
    keys: now.keys,
    source: 'first-use-new',
    detail: `trusted on first use and recorded in ${file} (${now.keys.map(fingerprint).join(', ')})`,
  };
}
