/**
 * Per-lease SSH identity. The private key never leaves this worker's disk: callers get its path and
 * the public half only.
 */
import { chmodSync, existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { leaseDir } from './state-dir.js';
import { runProcess } from './exec.js';
import { ProviderError } from '../errors.js';

export const LEASE_KEY_FILE = 'id_ed25519';

/** Where the lease key lives (the file may not exist yet). */
export function leaseKeyPath(leaseId: string): string {
  return join(leaseDir(leaseId), LEASE_KEY_FILE);
}

/** Create the lease's ed25519 key once; later calls (retries, other activities) reuse it. */
export async function ensureLeaseKey(leaseId: string): Promise<{ keyPath: string; publicKey: string }> {
  const keyPath = leaseKeyPath(leaseId);
  if (!existsSync(keyPath)) await generate(leaseId, keyPath);
  const publicKey = await publicKeyOf(keyPath);
  for (const f of [keyPath, `${keyPath}.pub`]) chmodSync(f, 0o600);
  return { keyPath, publicKey };
}

async function generate(leaseId: string, keyPath: string): Promise<void> {
  const tmp = `${keyPath}.tmp-${randomBytes(4).toString('hex')}`;
  const res = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `durabox-${leaseId}`, '-f', tmp]);
  if (res.code !== 0) {
    throw new ProviderError('invalid', `ssh-keygen failed: ${res.stderr.trim()}`, {
      provider: 'common',
      operation: 'ensureLeaseKey',
      leaseId,
      status: res.code,
    });
  }
  try {
    // link() refuses to overwrite: of two concurrent generators exactly one key wins.
    linkSync(tmp, keyPath);
    renameSync(`${tmp}.pub`, `${keyPath}.pub`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    for (const f of [tmp, `${tmp}.pub`]) if (existsSync(f)) unlinkSync(f);
  }
}

async function publicKeyOf(keyPath: string): Promise<string> {
  const pub = `${keyPath}.pub`;
  if (existsSync(pub)) return readFileSync(pub, 'utf8').trim();
  // The .pub got lost (or a generator lost the race mid-way): derive it from the private key.
  const res = await runProcess('ssh-keygen', ['-y', '-f', keyPath]);
  if (res.code !== 0) {
    throw new ProviderError('invalid', `cannot read lease key ${keyPath}: ${res.stderr.trim()}`, {
      provider: 'common',
      operation: 'ensureLeaseKey',
    });
  }
  const publicKey = res.stdout.trim();
  writeFileSync(pub, `${publicKey}\n`, { mode: 0o600 });
  return publicKey;
}
