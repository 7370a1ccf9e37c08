/**
 * What this worker last shipped to a lease's box: the fingerprint of its last complete sync, kept
 * in the lease's state dir. A warm rerun whose local fingerprint differs is known to need a sync
 * without asking the box; one that matches is still checked against the box (another machine may
 * have synced since), in the run's own session.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leaseDir } from './state-dir.js';

const file = (leaseId: string) => join(leaseDir(leaseId), 'sync-fingerprint');

export function rememberSynced(leaseId: string, fingerprint: string): void {
  const path = file(leaseId);
  writeFileSync(`${path}.tmp`, `${fingerprint}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function lastSynced(leaseId: string): string | undefined {
  try {
    return readFileSync(file(leaseId), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
