/**
 * leaseWorkflow on the real dev server with fake activities: compensation, release policy, timers,
 * validators and cancellation. The fakes record every call so order and arguments are asserted.
 */
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withStartLease, leaseStartOptions } from '../../cli/lease-client.js';
import { runFailureExit } from '../../cli/commands/run-support.js';
import { ExitCode } from '../../cli/exit-codes.js';
import { LEASE_WORKFLOW_TYPE, releaseSignal, runUpdate, statusQuery, touchSignal } from '../../workflows/messages.js';
import { workflowBundle } from '../support/workflow-bundle.js';
import { recordHistory } from '../support/record-history.js';
import { fakeActivities, leaseInput, target, type Activities, type Recorder } from '../support/fake-activities.js';

let client: Client;
let nativeConnection: NativeConnection;
const address = inject('temporalAddress');
const namespace = inject('temporalNamespace');

beforeAll(async () => {
  client = new Client({ connection: await Connection.connect({ address }), namespace });
  nativeConnection = await NativeConnection.connect({ address });
});
afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
});

/** Run `fn` with a worker serving both the shared queue and the per-worker queue. */
async function withWorker<T>(rec: Recorder, overrides: Partial<Activities>, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `wf-test-${randomBytes(4).toString('hex')}`;
  const own = `${taskQueue}@w1`;
  const activities = fakeActivities(rec, own, overrides);
  const bundle = await workflowBundle();
  const shared = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle: bundle, activities });
  const mine = await Worker.create({ connection: nativeConnection, namespace, taskQueue: own, activities });
  return mine.runUntil(shared.runUntil(fn(taskQueue)));
}

describe('leaseWorkflow', () => {
  it('creates, runs once through update-with-start, then releases with the provider default', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput();
      const op = withStartLease(input, taskQueue);
      const result = await client.workflow.executeUpdateWithStart(runUpdate, {
        args: [{ argv: ['echo', 'hi'], localRoot: '/tmp' }],
        updateId: 'run_first',
        startWorkflowOperation: op,
      });
      expect(result.exitCode).toBe(0);
      expect(result.runId).toBe('run_first');
      expect(result.sync?.files).toBe(3);
      const handle = await op.workflowHandle();
      const summary = await handle.result();
      expect(summary.phase).toBe('released');
      expect(summary.released?.action).toBe('delete');
      expect(summary.released?.reason).toBe('after-run');
      expect(rec.calls).toEqual(['claim', 'create', 'waitReady', 'sync', 'run:echo hi', 'release:delete']);
      // Each upsert is a visibility write: the lease publishes what list and the Web UI show when it
      // settles, not every step (no "starting", no "ready" that the waiting run replaces at once).
      expect(await upsertedStates(handle)).toEqual([['publish-settled-state'], 'running', 'releasing', 'released']);
      // Fixtures without the settled- prefix are these stories as older code recorded them; they stay
      // as recorded (test/replay replays them all), so new recordings take new names.
      await recordHistory('settled-run-then-release', handle);
    });
  });

  it('a waiting first run that the worker refuses leaves the lease listed as ready', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false });
      const op = withStartLease(input, taskQueue);
      // A client on another machine: the worker refuses to sync its tree (the client syncs it).
      const first = client.workflow.executeUpdateWithStart(runUpdate, {
        args: [{ argv: ['true'], localRoot: '/elsewhere', origin: { workerId: 'not-this-one' } }],
        updateId: 'run_remote',
        startWorkflowOperation: op,
      });
      await expect(first).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      const handle = await op.workflowHandle();
      expect((await handle.query(statusQuery)).phase).toBe('ready');
      expect(await upsertedStates(handle)).toEqual([['publish-settled-state'], 'ready']);
      await handle.signal(releaseSignal, { action: 'keep' });
      await handle.result();
      expect(await upsertedStates(handle)).toEqual([['publish-settled-state'], 'ready', 'releasing', 'released']);
      await recordHistory('settled-refused-first-run', handle);
    });
  });

  it('a second update with the same id is not run twice', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      const a = await handle.executeUpdate(runUpdate, { args: [{ argv: ['true'], noSync: true }], updateId: 'run_same' });
      const b = await handle.executeUpdate(runUpdate, { args: [{ argv: ['true'], noSync: true }], updateId: 'run_same' });
      expect(a.runId).toBe(b.runId);
      expect(rec.calls.filter((c) => c.startsWith('run:'))).toHaveLength(1);
      await handle.signal(releaseSignal, { action: 'keep' });
      const summary = await handle.result();
      expect(summary.released?.action).toBe('keep');
      expect(summary.runs).toHaveLength(1);
    });
  });

  it('a failed wait-ready rolls back with the configured action, never a more destructive one', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(
      rec,
      {
        async waitBoxReady() {
          rec.calls.push('waitReady');
          throw ApplicationFailure.create({ type: 'Provider.invalid', message: 'box never answered', nonRetryable: true });
        },
      },
      async (taskQueue) => {
        const input = leaseInput({ releaseAction: 'stop' });
        const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
        await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
        expect(rec.calls).toEqual(['claim', 'create', 'waitReady', 'release:stop']);
        expect(rec.releases[0].box?.resourceId).toBe(`box-${input.leaseId}`);
        const status = await handle.query(statusQuery);
        expect(status.phase).toBe('failed');
        expect(status.error).toContain('box never answered');
        await recordHistory('settled-rollback-after-failed-ready', handle);
      },
    );
  });

  it('a box that will not start is destroyed and another acquired, bounded; a stop policy keeps it and fails', async () => {
    const boxes: string[] = [];
    const overrides = (rec: Recorder, failures: number): Partial<Activities> => ({
      async createBox(i) {
        rec.calls.push('create');
        const resourceId = `box-${boxes.length + 1}`;
        boxes.push(resourceId);
        return { box: { provider: i.provider, leaseId: i.leaseId, resourceId, scope: 'test', details: {} }, defaultReleaseAction: 'delete', adopted: false };
      },
      async waitBoxReady(i) {
        rec.calls.push(`waitReady:${i.box.resourceId}`);
        if (Number(i.box.resourceId.slice(4)) <= failures) {
          throw ApplicationFailure.create({ type: 'Provider.capacity', message: `instance ${i.box.resourceId} exited`, nonRetryable: true });
        }
        return target;
      },
    });
    // Two boxes fail, the third starts: each failed one is released (delete) before the next create.
    let rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, overrides(rec, 2), async (taskQueue) => {
      const input = leaseInput({ acquireAttempts: 3 });
      const op = withStartLease(input, taskQueue);
      const result = await client.workflow.executeUpdateWithStart(runUpdate, { args: [{ argv: ['true'], noSync: true }], updateId: 'run_after_retries', startWorkflowOperation: op });
      expect(result.exitCode).toBe(0);
      const summary = await (await op.workflowHandle()).result();
      expect(rec.calls).toEqual(['claim', 'create', 'waitReady:box-1', 'release:delete', 'create', 'waitReady:box-2', 'release:delete', 'create', 'waitReady:box-3', 'run:true', 'release:delete']);
      expect(rec.releases.map((r) => r.box?.resourceId)).toEqual(['box-1', 'box-2', 'box-3']);
      expect(summary.box?.resourceId).toBe('box-3');
    });
    // Out of attempts: the last failed box is rolled back and the lease fails.
    boxes.length = 0;
    rec = { calls: [], releases: [] };
    await withWorker(rec, overrides(rec, 5), async (taskQueue) => {
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(leaseInput({ acquireAttempts: 2 }), taskQueue));
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(rec.calls).toEqual(['claim', 'create', 'waitReady:box-1', 'release:delete', 'create', 'waitReady:box-2', 'release:delete']);
    });
    // A stop policy never destroys: the failed box is stopped, kept, and no other box is rented.
    boxes.length = 0;
    rec = { calls: [], releases: [] };
    await withWorker(rec, overrides(rec, 1), async (taskQueue) => {
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(leaseInput({ acquireAttempts: 3, releaseAction: 'stop' }), taskQueue));
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(rec.calls.filter((c) => c === 'create')).toHaveLength(1);
      expect(rec.calls.filter((c) => c.startsWith('release:'))).toEqual(['release:stop']);
    });
  });

  it('a create that never returned is rolled back by marker with the provider default', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(
      rec,
      {
        async createBox() {
          rec.calls.push('create');
          throw ApplicationFailure.create({ type: 'Provider.capacity', message: 'no capacity', nonRetryable: true });
        },
      },
      async (taskQueue) => {
        const input = leaseInput();
        const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
        await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
        expect(rec.calls).toEqual(['claim', 'create', 'release:default']);
        expect(rec.releases[0].box).toBeUndefined();
        expect(rec.releases[0].action).toBeUndefined();
      },
    );
  });

  it('cancelling a ready lease still releases its box', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false, releaseAction: 'stop' });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(rec.calls).toEqual(['claim', 'create', 'waitReady', 'release:stop']);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      await recordHistory('settled-cancelled-while-ready', handle);
    });
  });

  it('releases itself when the idle timer fires, and touch extends it', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false, idleTimeoutMs: 3000 });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      const before = (await handle.query(statusQuery)).idleDeadline!;
      await new Promise((r) => setTimeout(r, 1000));
      await handle.signal(touchSignal);
      await expectEventually(async () => (await handle.query(statusQuery)).idleDeadline! > before);
      const summary = await handle.result();
      expect(summary.released?.reason).toBe('idle');
      expect(summary.released?.action).toBe('delete');
      await recordHistory('settled-idle-expiry-with-touch', handle);
    });
  });

  it('a priced box is released with the lease action once --max-cost is spent, even mid-run', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    // $3600/h is $1/s: a $3 budget runs out 3 s after the box was created.
    const priced: Partial<Activities> = {
      async createBox(i) {
        rec.calls.push('create');
        return { box: { provider: i.provider, leaseId: i.leaseId, resourceId: `box-${i.leaseId}`, scope: 'test', details: {}, costPerHour: 3600 }, defaultReleaseAction: 'delete', adopted: false };
      },
      async runCommand(i) {
        rec.calls.push(`run:${i.argv.join(' ')}`);
        // Runs until cancelled: heartbeats so the cancellation reaches it.
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(200);
        }
      },
    };
    await withWorker(rec, priced, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false, releaseAction: 'stop', maxCost: 3 });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      const s = await handle.query(statusQuery);
      expect(s.maxCost).toBe(3);
      expect(Date.parse(s.budgetDeadline!) - Date.parse(s.boxCreatedAt!)).toBe(3000);
      const run = handle.executeUpdate(runUpdate, { args: [{ argv: ['sleep', '600'], noSync: true }], updateId: 'run_long' });
      // A second run queued behind the first: the lease ends before it may start.
      while (!rec.calls.includes('run:sleep 600')) await new Promise((r) => setTimeout(r, 50));
      // Its refusal may come before the first run's: held as a value, not a pending rejection.
      const queued = handle
        .executeUpdate(runUpdate, { args: [{ argv: ['echo', 'queued'], noSync: true }], updateId: 'run_queued' })
        .then(() => undefined, (e: unknown) => e);
      const err = await run.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('LeaseExpired');
      expect(((err as WorkflowUpdateFailedError).cause as ApplicationFailure).message).toMatch(/budget of \$3/);
      const queuedErr = await queued;
      expect(((queuedErr as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('LeaseReleased');
      expect(((queuedErr as WorkflowUpdateFailedError).cause as ApplicationFailure).message).toMatch(/is ending \(budget\)/);
      const summary = await handle.result();
      expect(summary.released).toMatchObject({ reason: 'budget', action: 'stop' });
      expect(rec.calls.filter((c) => c.startsWith('run:'))).toEqual(['run:sleep 600']);
      expect(rec.calls.at(-1)).toBe('release:stop');
      const memo = (await handle.describe()).memo as Record<string, unknown>;
      expect(memo).toMatchObject({ costPerHour: 3600, maxCost: 3, releasedAt: summary.released!.at });
      // A budget moves the expiry at create, so "starting" is published; the cut-short run leaves
      // "running" for "releasing", with no "ready" between.
      expect(await upsertedStates(handle)).toEqual([['publish-settled-state'], 'starting', 'ready', 'running', 'releasing', 'released']);
      await recordHistory('settled-budget-mid-run-with-queued-run', handle);
    });
  });

  it('rejects bad runs and runs on a released lease', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    await withWorker(rec, {}, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      await expect(handle.executeUpdate(runUpdate, { args: [{ argv: [] }] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      const failed = await handle.executeUpdate(runUpdate, { args: [{ argv: ['false'], noSync: true }] });
      expect(failed.exitCode).toBe(1);
      expect(failed.status).toBe('failed');
      await handle.signal(releaseSignal, {});
      await handle.result();
      expect(rec.calls.filter((c) => c.startsWith('run:'))).toEqual(['run:false']);
      await recordHistory('settled-runs-and-rejections', handle);
    });
  });
  it('a run that fails on bad input (a tree git will not read) fails as InvalidRun and keeps the lease', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const overrides: Partial<Activities> = {
      async syncWorkdir() {
        throw ApplicationFailure.create({ type: 'Provider.invalid', message: 'git cannot read the repository holding /r', nonRetryable: true });
      },
    };
    await withWorker(rec, overrides, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      const err = await handle.executeUpdate(runUpdate, { args: [{ argv: ['true'], localRoot: '/r' }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('InvalidRun');
      expect(cause.message).toMatch(/git cannot read the repository/);
      expect(runFailureExit(err, false).code).toBe(ExitCode.config);
      expect((await handle.query(statusQuery)).phase).toBe('ready');
      // Listed as ready again too, not left "running" by the failed run.
      expect(await upsertedStates(handle)).toEqual([['publish-settled-state'], 'ready', 'running', 'ready']);
      expect(rec.releases).toEqual([]);
      await handle.signal(releaseSignal, {});
      await handle.result();
      await recordHistory('settled-failed-run-keeps-lease', handle);
    });
  });

  it('a tree synced before is checked in the run itself; a stale one is synced, then run with the same id', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const checks: Array<string | undefined> = [];
    let staleOnce = false;
    const overrides: Partial<Activities> = {
      async runCommand(input) {
        checks.push(input.syncCheck ? `${input.runId}:${input.syncCheck.localRoot}` : undefined);
        if (input.syncCheck && staleOnce) {
          staleOnce = false;
          throw ApplicationFailure.create({ type: 'SyncStale', message: 'tree changed', nonRetryable: true });
        }
        rec.calls.push(`run:${input.argv.join(' ')}`);
        return { exitCode: 0, status: 'succeeded', tail: '', runMs: 1, stdoutBytes: 0, stderrBytes: 0, reattached: false, sync: input.syncCheck ? { files: 3, bytes: 10, ms: 2 } : undefined };
      },
    };
    await withWorker(rec, overrides, async (taskQueue) => {
      const input = leaseInput({ releaseAfterRun: false });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      await waitForPhase(handle, 'ready');
      const run = (id: string, localRoot = '/src/a') => handle.executeUpdate(runUpdate, { args: [{ argv: ['make', id], localRoot }], updateId: id });
      const cold = await run('run_1');
      expect(cold.sync).toMatchObject({ skipped: false });
      const warm = await run('run_2');
      expect(warm.sync).toEqual({ files: 3, bytes: 10, deleted: 0, skipped: true });
      staleOnce = true;
      const changed = await run('run_3');
      expect(changed.sync).toMatchObject({ skipped: false, files: 3 });
      // Another tree has not been synced on this lease: it syncs first.
      await run('run_4', '/src/b');
      await handle.signal(releaseSignal, {});
      await handle.result();
      expect(checks).toEqual([undefined, 'run_2:/src/a', 'run_3:/src/a', undefined, undefined]);
      expect(rec.calls.filter((c) => c === 'sync' || c.startsWith('run:'))).toEqual([
        'sync', 'run:make run_1', 'run:make run_2', 'sync', 'run:make run_3', 'sync', 'run:make run_4',
      ]);
      await recordHistory('settled-sync-check-in-run', handle);
    });
  });

  it('moves a lease to another worker when its own worker is gone, and finishes there', async () => {
    const taskQueue = `wf-test-${randomBytes(4).toString('hex')}`;
    const qA = `${taskQueue}@a`;
    const qB = `${taskQueue}@b`;
    const recShared: Recorder = { calls: [], releases: [] };
    const recA: Recorder = { calls: [], releases: [] };
    const recB: Recorder = { calls: [], releases: [] };
    let claims = 0;
    const sharedActs = fakeActivities(recShared, qA, {
      async claimWorkerQueue() {
        recShared.calls.push('claim');
        return claims++ === 0 ? qA : qB;
      },
    });
    const bundle = await workflowBundle();
    const shared = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle: bundle, activities: sharedActs });
    const workerA = await Worker.create({ connection: nativeConnection, namespace, taskQueue: qA, activities: fakeActivities(recA, qA) });
    const workerB = await Worker.create({ connection: nativeConnection, namespace, taskQueue: qB, activities: fakeActivities(recB, qB) });
    await shared.runUntil(async () => {
      const input = leaseInput({ releaseAfterRun: true, workerPickupTimeoutMs: 2000 });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      // Worker A creates the box and gets it ready, then dies for good.
      await workerA.runUntil(waitForPhase(handle, 'ready'));
      await workerB.runUntil(async () => {
        const result = await handle.executeUpdate(runUpdate, { args: [{ argv: ['echo', 'moved'], noSync: true }] });
        expect(result.exitCode).toBe(0);
        const summary = await handle.result();
        expect(summary.released?.action).toBe('delete');
        expect(summary.workerQueue).toBe(qB);
      });
      expect(recA.calls).toEqual(['create', 'waitReady']);
      expect(recB.calls).toEqual(['adopt', 'run:echo moved', 'release:delete']);
      expect(recShared.calls).toEqual(['claim', 'claim']);
    });
  });
});

async function waitForPhase(handle: WorkflowHandle, phase: string): Promise<void> {
  await expectEventually(async () => (await handle.query(statusQuery)).phase === phase);
}

async function expectEventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each search-attribute upsert in the lease's history: its DuraboxState, or the SDK's patch ids. */
async function upsertedStates(handle: WorkflowHandle): Promise<Array<string | string[]>> {
  const { events } = await handle.fetchHistory();
  const out: Array<string | string[]> = [];
  for (const e of events ?? []) {
    const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    if (!fields) continue;
    const field = fields.DuraboxState ?? fields.TemporalChangeVersion;
    out.push(field?.data ? (JSON.parse(Buffer.from(field.data).toString('utf8')) as string | string[]) : `(upsert of ${Object.keys(fields).join(', ')})`);
  }
  return out;
}
