/**
 * Replays every committed lease history against today's workflow code. A change that would break
 * running leases (reordered activities, a new timer, a removed handler) fails here, not in production.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR } from '../support/record-history.js';
import { workflowBundle } from '../support/workflow-bundle.js';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

function load(file: string) {
  return historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')));
}

describe('replay of recorded lease histories', () => {
  it('has fixtures to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  it('replays every history without a determinism error', async () => {
    const bundle = await workflowBundle();
    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: load(f) }));
    const results: string[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      expect(r.error, `${r.workflowId}: ${r.error?.message}`).toBeUndefined();
      results.push(r.workflowId);
    }
    expect(results.sort()).toEqual(histories.map((h) => h.workflowId).sort());
  });

  it('detects a history the code would not produce (an activity renamed)', async () => {
    const bundle = await workflowBundle();
    const raw = JSON.parse(readFileSync(join(HISTORIES_DIR, 'run-then-release.json'), 'utf8'));
    const scheduled = raw.events.find(
      (e: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'createBox',
    );
    expect(scheduled).toBeDefined();
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'createSomethingElse';
    await expect(Worker.runReplayHistory({ workflowBundle: bundle }, historyFromJSON(raw), 'mutated')).rejects.toBeInstanceOf(
      DeterminismViolationError,
    );
  });
});
