/**
 * The CLI's status feed against a real dev server and a real lease workflow (fake activities):
 * watchers share one query per round, a watcher that throws stops neither the others nor the
 * pacing, stop() leaves no query behind, and a run's result names the worker that ran it.
 * Queries are counted by a gRPC interceptor outside the client's retry interceptor, so a count is
 * one per query the feed made, whatever the retries.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryStatus, withStartLease } from '../../cli/lease-client.js';
import { statusFeed } from '../../cli/lease-status-feed.js';
import { runUpdateOutcome, sendRunUpdate, type RunUpdateTarget } from '../../cli/temporal/run-update.js';
import { leaseWorkflowId, type LeaseStatus } from '../../workflows/messages.js';
import { fakeActivities, leaseInput, type Recorder } from '../support/fake-activities.js';
import { workflowBundle } from '../support/workflow-bundle.js';
import type { leaseWorkflow } from '../../workflows/lease.js';

const address = inject('temporalAddress');
const namespace = inject('temporalNamespace');
let queries = 0;
const countQueries: Interceptor = (options, next) => {
  if (options.method_definition.path.endsWith('/QueryWorkflow')) queries++;
  return new InterceptingCall(next(options));
};
let client: Client;
let nativeConnection: NativeConnection;

beforeAll(async () => {
  const connection = await Connection.connect({ address, interceptors: [countQueries, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())] });
  client = new Client({ connection, namespace });
  nativeConnection = await NativeConnection.connect({ address });
});
afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
});

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('status feed', () => {
  it('shares one query per round between watchers, survives a throwing watcher, and stops clean', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const taskQueue = `feed-${randomBytes(4).toString('hex')}`;
    const activities = fakeActivities(rec, `${taskQueue}@w1`, {
      async runCommand() {
        await settle(2500);
        return { exitCode: 0, status: 'succeeded', tail: '', runMs: 2500, stdoutBytes: 0, stderrBytes: 0, reattached: false };
      },
    });
    const shared = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle: await workflowBundle(), activities });
    const own = await Worker.create({ connection: nativeConnection, namespace, taskQueue: `${taskQueue}@w1`, activities });
    const running = Promise.all([shared.run(), own.run()]);
    try {
      const input = leaseInput();
      const t: RunUpdateTarget = {
        client,
        workflowId: leaseWorkflowId(input.leaseId),
        updateId: 'run_feed_1',
        req: { argv: ['make'], localRoot: '/tmp' },
        startOperation: () => withStartLease(input, taskQueue),
      };
      const result = runUpdateOutcome(t, sendRunUpdate(t));
      const handle = client.workflow.getHandle<typeof leaseWorkflow>(t.workflowId);
      const feed = statusFeed((signal) => queryStatus(handle, signal), 100);
      const a: Array<LeaseStatus | undefined> = [];
      const b: Array<LeaseStatus | undefined> = [];
      let thrown = 0;
      const before = queries;
      // Answers only; the last call (at stop) carries none.
      feed.watch((s, last) => (last || a.push(s), false));
      feed.watch((s, last) => (last || b.push(s), false));
      feed.watch(() => {
        thrown++;
        throw new Error('a watcher that breaks');
      });
      await expect.poll(() => a.filter((s) => s?.phase === 'running').length, { timeout: 20_000 }).toBeGreaterThan(0);
      const r = await result;
      await feed.stop();
      const made = queries - before;
      // Every round reached both watchers, one query each round; the throwing one was called once.
      expect(a.length).toBeGreaterThan(3);
      expect(b).toEqual(a);
      // (A query in flight at stop() was given up: at most one more than delivered.)
      expect(made - a.length).toBeGreaterThanOrEqual(0);
      expect(made - a.length).toBeLessThanOrEqual(1);
      expect(thrown).toBe(1);
      // Paced at the interval even with a throwing watcher: far fewer than a spinning loop makes.
      expect(made).toBeLessThan(200);
      // Nothing is asked after stop().
      await settle(500);
      expect(queries - before).toBe(made);
      // The result names the worker whose machine holds the run's output.
      expect(r.workerQueue).toBe(`${taskQueue}@w1`);
      // A lease that did not release itself after the run would outlive the test.
      await client.workflow.getHandle(t.workflowId).terminate('test done').catch(() => undefined);
    } finally {
      shared.shutdown();
      own.shutdown();
      await running;
    }
  });
});
