/**
 * `durabox cleanup` end to end with the local provider: a real worker process, real sshd boxes. A
 * box whose lease workflow was terminated (so it never released) is swept; a running lease's box is
 * kept. Also: the cleanup Schedule is created and updated idempotently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SweepResult } from '../../workflows/sweep-decide.js';
import { CliHarness } from '../support/cli-harness.js';

let h: CliHarness;
beforeAll(async () => {
  // This test manages the schedule itself.
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'), { DURABOX_CLEANUP_SCHEDULE: 'off' });
  await h.startWorker();
});
afterAll(async () => {
  await h?.stop();
  h?.cleanup();
});

async function warmup(slug: string): Promise<{ leaseId: string; workflowId: string }> {
  const r = await h.run(['--json', 'warmup', '--slug', slug, '--provider', 'local']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('durabox cleanup', () => {
  it("sweeps a terminated lease's box and keeps a running lease's box", async () => {
    const orphan = await warmup('sweep-orphan');
    const live = await warmup('sweep-live');
    const client = await h.connect();
    // Terminate skips the lease's own compensation: its box is left behind, still running.
    await client.workflow.getHandle(orphan.workflowId).terminate('test: leave the box behind');
    expect(existsSync(join(h.stateDir, 'boxes', orphan.leaseId, 'box.json'))).toBe(true);

    const dry = await h.run(['--json', 'cleanup', '--provider', 'local', '--grace', '0', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const dryResult = JSON.parse(dry.stdout) as SweepResult;
    const dryDecisions = dryResult.providers[0]!.decisions;
    expect(dryDecisions.find((d) => d.leaseId === orphan.leaseId)).toMatchObject({ outcome: 'would-release', action: 'delete' });
    expect(existsSync(join(h.stateDir, 'boxes', orphan.leaseId))).toBe(true);

    // Within the default grace period (30 min) nothing is released.
    const graced = JSON.parse((await h.run(['--json', 'cleanup', '--provider', 'local'])).stdout) as SweepResult;
    expect(graced.providers[0]!.decisions.find((d) => d.leaseId === orphan.leaseId)).toMatchObject({ outcome: 'kept' });

    const r = await h.run(['cleanup', '--provider', 'local', '--grace', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`released \\(delete\\)\\s+local-${orphan.leaseId}\\s+lease ${orphan.leaseId}\\s+lease terminated`));
    expect(r.stdout).toMatch(new RegExp(`kept\\s+local-${live.leaseId}\\s+lease ${live.leaseId}\\s+lease is running`));
    expect(existsSync(join(h.stateDir, 'boxes', orphan.leaseId))).toBe(false);
    expect(existsSync(join(h.stateDir, 'boxes', live.leaseId, 'box.json'))).toBe(true);
    const liveHandle = client.workflow.getHandle(live.workflowId);
    expect((await liveHandle.describe()).status.name).toBe('RUNNING');

    const stop = await h.run(['stop', live.leaseId]);
    expect(stop.code, stop.stderr).toBe(0);
    await liveHandle.result();
  }, 420_000);

  it('creates, then updates, the cleanup schedule idempotently', async () => {
    const client = await h.connect();
    try {
      const a = await h.run(['--json', 'cleanup', '--schedule', '--provider', 'local', '--every', '20m']);
      expect(a.code, a.stderr).toBe(0);
      expect(['created', 'updated']).toContain(JSON.parse(a.stdout).status);
      const b = await h.run(['--json', 'cleanup', '--schedule', '--provider', 'local', '--every', '20m']);
      expect(JSON.parse(b.stdout).status).toBe('updated');
      const desc = await client.schedule.getHandle('durabox-cleanup').describe();
      expect(desc.spec.intervals?.[0]?.every).toBe(20 * 60_000);
      expect(desc.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
      expect(desc.action).toMatchObject({ type: 'startWorkflow', workflowType: 'orphanSweepWorkflow', taskQueue: h.taskQueue });
    } finally {
      await client.schedule.getHandle('durabox-cleanup').delete().catch(() => undefined);
    }
  });
});
