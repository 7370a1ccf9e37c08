/**
 * The scale-out behaviour without Docker: three worker processes, each with its own state dir and
 * nothing shared but the Temporal server, serve twenty leases. Two workers are SIGKILLed while the
 * commands run and never come back. Every lease must still finish exactly once (no command started
 * twice, every exit code delivered) and release its box exactly once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { leaseStartOptions, withStartLease } from '../../cli/lease-client.js';
import { runUpdateOutcome, sendRunUpdate } from '../../cli/temporal/run-update.js';
import { statusQuery, type LeaseInput } from '../../workflows/messages.js';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

// Twenty, as issue #10 asks (DURABOX_FLEET_LEASES changes it). On 2 cores all twenty commands run
// after about 45 s and the test takes about 95 s, since local boxes no longer run root's
// interactive ~/.bashrc for every control session.
const LEASES = Number(process.env.DURABOX_FLEET_LEASES ?? 20);
const address = inject('temporalAddress');
const namespace = inject('temporalNamespace');
const taskQueue = `fleet-${randomBytes(4).toString('hex')}`;
const workers = [0, 1, 2].map(() => new CliHarness(address, namespace, { DURABOX_TASK_QUEUE: taskQueue }));

afterAll(async () => {
  for (const w of workers) {
    await w.stop();
    if (!process.env.DURABOX_KEEP_TEST_STATE) w.cleanup();
  }
});

/** How many activities of this type completed in a workflow history. */
export function completedActivities(history: { events?: Array<Record<string, any>> | null }, type: string): number {
  const types = new Map<string, string>();
  let count = 0;
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name);
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed && types.get(String(completed.scheduledEventId)) === type) count++;
  }
  return count;
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : [];
}

// In the default run (DURABOX_FLEET_TEST=0 skips it). It was opt-in while one lease in six now and
// then never started its command (twice in CI). Not seen again in three runs (6, 10 and 8 leases)
// since the run activity heartbeats from its first moment; a slow first ssh login used to outlast
// the heartbeat timeout, the likeliest cause, though the stuck history itself was never captured.
describe.skipIf(process.env.DURABOX_FLEET_TEST === '0')('a fleet of three workers', () => {
  it('finishes every lease exactly once after two workers die mid-run', async () => {
    const procs = await Promise.all(workers.map((w) => w.startWorker()));
    const client = await workers[0].connect();
    const repo = makeRepo();
    const marks = mkdtempSync(join(tmpdir(), 'durabox-fleet-'));
    const started = join(marks, 'started');
    const done = join(marks, 'done');
    // Every command waits for this file, so all of them are still running when the workers die.
    const go = join(marks, 'go');

    const t0 = Date.now();
    const failures: string[] = [];
    const leases = Array.from({ length: LEASES }, (_, i) => {
      const leaseId = `dbx_${randomBytes(6).toString('hex')}`;
      const input: LeaseInput = {
        leaseId,
        slug: `fleet-${i}`,
        provider: 'local',
        providerConfig: {},
        releaseAfterRun: true,
        idleTimeoutMs: 30 * 60_000,
        ttlMs: 30 * 60_000,
        repoName: 'repo',
        owner: 'fleet-test',
        // Shorter than the default (30 s) so the test waits less per move.
        workerPickupTimeoutMs: 15_000,
      };
      const script = `echo "$DURABOX_LEASE_ID" >> ${started}; while [ ! -e ${go} ]; do sleep 0.2; done; echo "$DURABOX_LEASE_ID" >> ${done}; echo "finished $DURABOX_LEASE_ID"; exit 7`;
      // As the CLI does: asked again through RPC timeouts of a server this busy.
      const t = { client, workflowId: leaseStartOptions(input, taskQueue).workflowId, updateId: `run_${i}`, req: { argv: ['sh', '-c', script], localRoot: repo }, startOperation: () => withStartLease(input, taskQueue) };
      const result = runUpdateOutcome(t, sendRunUpdate(t));
      result.catch((err: Error) => failures.push(`${leaseId}: ${err.message}; ${(err.cause as Error | undefined)?.message ?? ''}`));
      return { input, result, workflowId: leaseStartOptions(input, taskQueue).workflowId };
    });

    // Kill two workers once every command is running on some box.
    const deadline = Date.now() + Math.max(240_000, LEASES * 30_000);
    while (lines(started).length < LEASES) {
      if (failures.length) throw new Error(`a lease failed before its command started: ${failures.join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`only ${lines(started).length} of ${LEASES} commands started`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Kill the two workers holding the most leases (claims need not spread evenly: the worker that
    // runs a workflow task often claims its lease), so some leases must move to the survivor.
    const holders = new Map<number, number>();
    for (const l of leases) {
      const s = await client.workflow.getHandle(l.workflowId).query(statusQuery);
      const w = workers.findIndex((h) => s.workerQueue === `${taskQueue}@${readFileSync(join(h.stateDir, 'worker', 'worker-id'), 'utf8').trim()}`);
      expect(w, `lease ${l.input.leaseId} on an unknown worker queue ${s.workerQueue}`).toBeGreaterThanOrEqual(0);
      holders.set(w, (holders.get(w) ?? 0) + 1);
    }
    const victims = [0, 1, 2].sort((a, b) => (holders.get(b) ?? 0) - (holders.get(a) ?? 0)).slice(0, 2);
    const doomed = victims.reduce((n, w) => n + (holders.get(w) ?? 0), 0);
    console.log(`all ${LEASES} commands started after ${Math.round((Date.now() - t0) / 1000)}s; leases per worker ${JSON.stringify([...holders])}; killing workers ${victims}`);
    for (const w of victims) procs[w].kill('SIGKILL');
    writeFileSync(go, '');

    const results = await Promise.all(leases.map((l) => l.result));
    console.log(`all ${LEASES} runs returned after ${Math.round((Date.now() - t0) / 1000)}s`);
    for (const r of results) expect(r.exitCode).toBe(7);
    expect(results.every((r) => r.tail?.includes('finished'))).toBe(true);

    // Each command ran once: started and finished exactly once per lease.
    const ids = leases.map((l) => l.input.leaseId).sort();
    expect(lines(started).sort()).toEqual(ids);
    await expect.poll(() => lines(done).sort(), { timeout: 30_000 }).toEqual(ids);

    // Each lease released its box exactly once, wherever it ended up.
    let moved = 0;
    for (const l of leases) {
      const handle = client.workflow.getHandle(l.workflowId);
      const summary = (await handle.result()) as { released?: { action: string }; workerQueue?: string };
      expect(summary.released?.action).toBe('delete');
      const history = await handle.fetchHistory();
      expect(completedActivities(history, 'releaseBox')).toBe(1);
      expect(completedActivities(history, 'createBox')).toBe(1);
      if (completedActivities(history, 'adoptBox') > 0) moved++;
    }
    // Every lease the dead workers held moved to the survivor and finished there.
    expect(doomed).toBeGreaterThan(0);
    expect(moved).toBe(doomed);
    for (const w of workers) {
      const boxes = join(w.stateDir, 'boxes');
      const left = existsSync(boxes) ? readdirSync(boxes).filter((n) => !n.startsWith('.')) : [];
      expect(left).toEqual([]);
    }
  }, Math.max(480_000, 240_000 + LEASES * 45_000));
});
