/**
 * Saves a finished workflow's history as a replay fixture when DURABOX_RECORD_HISTORIES=1
 * (`DURABOX_RECORD_HISTORIES=1 npx vitest run test/workflows`). Committed fixtures guard against
 * non-deterministic workflow changes: test/replay replays every one of them.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'replay', 'histories');

export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.DURABOX_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), `${historyToJSON(history)}\n`);
}
