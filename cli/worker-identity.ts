/**
 * This machine's worker id, as the worker itself chose it: `DURABOX_WORKER_ID`, else the id kept in
 * the worker dir. A lease whose worker queue ends in `@<this id>` is held by a worker that shares
 * this machine's disk, so it can read the working tree and keeps run output where this CLI looks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerDir } from '../providers/common/state-dir.js';

export function workerIdFile(): string {
  return join(workerDir(), 'worker-id');
}

/** The id a worker on this machine uses, without creating one (undefined when none ever ran here). */
export function existingWorkerId(): string | undefined {
  if (process.env.DURABOX_WORKER_ID) return process.env.DURABOX_WORKER_ID;
  const file = workerIdFile();
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}

export function isThisMachinesWorker(workerQueue: string | undefined): boolean {
  const id = existingWorkerId();
  return !!workerQueue && !!id && workerQueue.endsWith(`@${id}`);
}
