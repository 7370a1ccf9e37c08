/**
 * The CLI's run update survives RPC timeouts of a busy server: an update-with-start whose call
 * times out before any worker accepted it, and an accepted run whose outcome poll times out, both
 * still end with the run's result, and the run happens exactly once. Real dev server, real lease
 * workflow, fake activities; the timeouts are real gRPC deadlines on the client's calls.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withStartLease } from '../../cli/lease-client.js';
import { NotSentError, runUpdateOutcome, sendRunUpdate, type RunUpdateTarget } from '../../cli/temporal/run-update.js';
import { leaseWorkflowId } from '../../workflows/messages.js';
import { fakeActivities, leaseInput, type Recorder } from '../support/fake-activities.js';
import { workflowBundle } from '../support/workflow-bundle.js';

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

async function startWorker(rec: Recorder, taskQueue: string, runMs = 0) {
  const activities = fakeActivities(rec, `${taskQueue}@w1`, {
    async runCommand(input) {
      rec.calls.push(`run:${input.argv.join(' ')}`);
      await new Promise((r) => setTimeout(r, runMs));
      return { exitCode: 3, status: 'failed', tail: 'ok', runMs, stdoutBytes: 2, stderrBytes: 0, reattached: false };
    },
  });
  const shared = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle: await workflowBundle(), activities });
  const own = await Worker.create({ connection: nativeConnection, namespace, taskQueue: `${taskQueue}@w1`, activities });
  const running = Promise.all([shared.run(), own.run()]);
  return async () => {
    shared.shutdown();
    own.shutdown();
    await running;
  };
}

/** Quick retries, so the tests wait little between asks. */
const FAST = { maxTimeouts: 5, initialDelayMs: 200, maxDelayMs: 1000 };

/** A run update for a new lease of `taskQueue`, started by the update itself. */
function newLeaseRun(taskQueue: string, updateId: string, argv: string[]): RunUpdateTarget {
  const input = leaseInput();
  return { client, workflowId: leaseWorkflowId(input.leaseId), updateId, req: { argv, localRoot: '/tmp' }, startOperation: () => withStartLease(input, taskQueue) };
}

/** The first call under a short gRPC deadline; its error is kept for the assertions. */
function firstCallWithDeadline(t: RunUpdateTarget, ms: number, seen: unknown[]) {
  return client.connection.withDeadline(Date.now() + ms, () => sendRunUpdate(t)).catch((err: unknown) => {
    seen.push(err);
    throw err;
  });
}

describe('run update through RPC timeouts', () => {
  it('starts the lease and runs once when the first update-with-start timed out before any worker was up', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const taskQueue = `rpc-timeout-${randomBytes(4).toString('hex')}`;
    const t = newLeaseRun(taskQueue, 'run_timeout_1', ['make', 'test']);
    const seen: unknown[] = [];
    const outcome = runUpdateOutcome(t, firstCallWithDeadline(t, 1500, seen), FAST);
    // No worker yet: the first call can only time out. Then the worker comes up.
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(1);
    expect(seen[0]).toBeInstanceOf(WorkflowUpdateRPCTimeoutOrCancelledError);
    const stop = await startWorker(rec, taskQueue);
    try {
      const result = await outcome;
      expect(result.exitCode).toBe(3);
      expect(result.runId).toBe('run_timeout_1');
      const summary = await client.workflow.getHandle(t.workflowId).result();
      expect(summary.released?.reason).toBe('after-run');
    } finally {
      await stop();
    }
    expect(rec.calls.filter((c) => c === 'create')).toHaveLength(1);
    expect(rec.calls.filter((c) => c.startsWith('run:'))).toEqual(['run:make test']);
  });

  it('never starts a second execution of a lease that closed meanwhile, and sends nothing again once interrupted', async () => {
    const taskQueue = `rpc-timeout-${randomBytes(4).toString('hex')}`;
    let interrupted = false;
    const t: RunUpdateTarget = { ...newLeaseRun(taskQueue, 'run_timeout_3', ['true']), interrupted: () => interrupted };
    const policy = { maxTimeouts: 2, initialDelayMs: 100, maxDelayMs: 200 };
    // No worker: the lease starts, its run is never admitted, and someone terminates the lease.
    const seen: unknown[] = [];
    await firstCallWithDeadline(t, 1500, seen).catch(() => undefined);
    expect(seen[0]).toBeInstanceOf(WorkflowUpdateRPCTimeoutOrCancelledError);
    await client.workflow.getHandle(t.workflowId).terminate('test');
    const again = await runUpdateOutcome(t, Promise.reject(seen[0]), policy).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Error);
    const runs: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${t.workflowId}'` })) runs.push(wf.runId);
    expect(runs).toHaveLength(1);

    // Interrupted: an update the server never took is not sent again.
    interrupted = true;
    const t2: RunUpdateTarget = { ...newLeaseRun(taskQueue, 'run_timeout_3', ['true']), interrupted: () => interrupted };
    const notSent = await runUpdateOutcome(t2, Promise.reject(seen[0]), policy).catch((e: unknown) => e);
    expect(notSent).toBeInstanceOf(NotSentError);
    await expect(client.workflow.getHandle(t2.workflowId).describe()).rejects.toThrow();
  });

  it('waits out an accepted run whose outcome poll timed out, without running it again', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const taskQueue = `rpc-timeout-${randomBytes(4).toString('hex')}`;
    const stop = await startWorker(rec, taskQueue, 4000);
    try {
      const t = newLeaseRun(taskQueue, 'run_timeout_2', ['sleep', '4']);
      const seen: unknown[] = [];
      const result = await runUpdateOutcome(t, firstCallWithDeadline(t, 2000, seen), FAST);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeInstanceOf(WorkflowUpdateRPCTimeoutOrCancelledError);
      expect(result.exitCode).toBe(3);
      expect(result.runId).toBe('run_timeout_2');
      expect(rec.calls.filter((c) => c === 'create')).toHaveLength(1);
      expect(rec.calls.filter((c) => c.startsWith('run:'))).toEqual(['run:sleep 4']);
    } finally {
      await stop();
    }
  });
});
