/**
 * orphanSweepWorkflow on the real dev server with fake activities: which boxes are kept, released
 * (with which action, on which worker queue) or skipped, dry runs, a failing provider, and a running
 * lease whose box vanished.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ReleaseBoxInput } from '../../activities/types.js';
import type { OwnedResource } from '../../providers/adapter.js';
import { leaseStartOptions } from '../../cli/lease-client.js';
import { LEASE_WORKFLOW_TYPE, statusQuery } from '../../workflows/messages.js';
import { SWEEP_WORKFLOW_TYPE, type LeaseFacts, type SweepInput, type SweepResult } from '../../workflows/sweep-decide.js';
import { fakeActivities, leaseInput, type Activities, type Recorder } from '../support/fake-activities.js';
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

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
const box = (leaseId: string, createdMinutesAgo: number, state = 'running'): OwnedResource => ({
  resourceId: `box-${leaseId}`,
  leaseId,
  state,
  createdAt: minutesAgo(createdMinutesAgo),
});

interface World {
  /** provider → its listed boxes, or an error to throw. */
  owned: Record<string, OwnedResource[] | Error>;
  leases: LeaseFacts[];
  /** Lease ids whose box a direct lookup still finds. */
  found?: string[];
}

interface SweepRecorder extends Recorder {
  /** `<queue> <leaseId> <action>` for every release. */
  releasedOn: string[];
  listCalls: string[];
}

/**
 * A worker with the shared queue and two per-worker queues (w1, w2), each recording which queue a
 * release ran on. Fakes answer from `world`.
 */
async function withSweepWorker<T>(world: World, fn: (taskQueue: string, rec: SweepRecorder) => Promise<T>): Promise<T> {
  const taskQueue = `sweep-test-${randomBytes(4).toString('hex')}`;
  const rec: SweepRecorder = { calls: [], releases: [], releasedOn: [], listCalls: [] };
  const make = (queue: string): Activities => ({
    ...fakeActivities(rec, `${taskQueue}@w1`),
    async listOwnedBoxes(input) {
      rec.listCalls.push(input.provider);
      const owned = world.owned[input.provider];
      if (owned instanceof Error) throw owned;
      return { discover: true, defaultReleaseAction: 'delete', resources: owned ?? [] };
    },
    async leaseStatesFor(input) {
      const running = input.runningOf ? world.leases.filter((l) => l.workflowStatus === 'RUNNING' && l.box?.provider === input.runningOf) : [];
      const wanted = world.leases.filter((l) => input.leaseIds.includes(l.leaseId));
      return [...new Map([...wanted, ...running].map((l) => [l.leaseId, l])).values()];
    },
    async findLeaseBoxes(input) {
      return (world.found ?? []).includes(input.leaseId)
        ? [{ provider: input.provider, leaseId: input.leaseId, resourceId: `box-${input.leaseId}`, scope: 'test', details: {} }]
        : [];
    },
    async releaseBox(input: ReleaseBoxInput) {
      rec.releases.push(input);
      rec.releasedOn.push(`${queue} ${input.leaseId} ${input.action ?? 'default'}`);
      return { action: input.action ?? 'delete', alreadyGone: false, count: 1 };
    },
  });
  const bundle = await workflowBundle();
  const shared = await Worker.create({ connection: nativeConnection, namespace, taskQueue, workflowBundle: bundle, activities: make('shared') });
  const w1 = await Worker.create({ connection: nativeConnection, namespace, taskQueue: `${taskQueue}@w1`, activities: make('w1') });
  const w2 = await Worker.create({ connection: nativeConnection, namespace, taskQueue: `${taskQueue}@w2`, activities: make('w2') });
  return w2.runUntil(w1.runUntil(shared.runUntil(fn(taskQueue, rec))));
}

async function sweep(taskQueue: string, input: SweepInput): Promise<SweepResult> {
  return client.workflow.execute(SWEEP_WORKFLOW_TYPE, { taskQueue, workflowId: `sweep-test-${randomBytes(4).toString('hex')}`, args: [input] });
}

const local = { provider: 'fake', providerConfig: {} };
const decisionFor = (r: SweepResult, leaseId: string) => r.providers.flatMap((p) => p.decisions).find((d) => d.leaseId === leaseId);

describe('orphanSweepWorkflow', () => {
  it('releases orphans past the grace period with their recorded action, keeps the rest', async () => {
    const world: World = {
      owned: {
        fake: [box('dbx_closedstop', 120), box('dbx_fresh', 5), box('dbx_running', 300), box('dbx_terminated', 60), box('dbx_keeper', 90), box('dbx_unknown', 500)],
      },
      leases: [
        // Completed, released with stop but the box is still running (a failed stop): stop again, on its worker.
        { leaseId: 'dbx_closedstop', workflowStatus: 'COMPLETED', releaseAction: 'delete', releasedAction: 'stop', workerQueue: 'TQ@w2' },
        { leaseId: 'dbx_fresh', workflowStatus: 'FAILED', releaseAction: 'delete' },
        { leaseId: 'dbx_running', workflowStatus: 'RUNNING', phase: 'ready', box: { provider: 'fake', leaseId: 'dbx_running', resourceId: 'box-dbx_running', scope: 'test', details: {} } },
        { leaseId: 'dbx_terminated', workflowStatus: 'TERMINATED', releaseAction: 'delete' },
        { leaseId: 'dbx_keeper', workflowStatus: 'COMPLETED', releaseAction: 'delete', releasedAction: 'keep' },
      ],
    };
    await withSweepWorker(world, async (taskQueue, rec) => {
      world.leases[0]!.workerQueue = `${taskQueue}@w2`;
      const r = await sweep(taskQueue, { providers: [local] });
      expect(decisionFor(r, 'dbx_closedstop')).toMatchObject({ outcome: 'released', action: 'stop', workflowStatus: 'COMPLETED' });
      expect(decisionFor(r, 'dbx_fresh')).toMatchObject({ outcome: 'kept' });
      expect(decisionFor(r, 'dbx_fresh')!.reason).toMatch(/grace/);
      expect(decisionFor(r, 'dbx_running')).toMatchObject({ outcome: 'kept' });
      expect(decisionFor(r, 'dbx_running')!.reason).toMatch(/running/);
      expect(decisionFor(r, 'dbx_terminated')).toMatchObject({ outcome: 'released', action: 'delete', workflowStatus: 'TERMINATED' });
      expect(decisionFor(r, 'dbx_keeper')).toMatchObject({ outcome: 'kept' });
      // No lease record: reported, never touched without --release-unrecorded.
      expect(decisionFor(r, 'dbx_unknown')).toMatchObject({ outcome: 'skipped', workflowStatus: 'NOT_FOUND' });
      expect(rec.releasedOn.sort()).toEqual(['shared dbx_terminated delete', 'w2 dbx_closedstop stop']);
      expect(r.counts).toMatchObject({ released: 2, kept: 3, skipped: 1, failed: 0 });
    });
  });

  it('releases a box with no lease record only when asked, with the provider default', async () => {
    const world: World = { owned: { fake: [box('dbx_unknown', 500), box('dbx_unknownyoung', 1)] }, leases: [] };
    await withSweepWorker(world, async (taskQueue, rec) => {
      const r = await sweep(taskQueue, { providers: [local], releaseUnrecorded: true });
      expect(decisionFor(r, 'dbx_unknown')).toMatchObject({ outcome: 'released', action: 'delete' });
      expect(decisionFor(r, 'dbx_unknownyoung')).toMatchObject({ outcome: 'kept' });
      expect(rec.releases).toHaveLength(1);
      expect(rec.releases[0]!.action).toBeUndefined(); // the activity applies the provider's default
      expect(rec.releases[0]!.box).toBeUndefined(); // found again by its marker, never by guess
    });
  });

  it("releases from any worker when the lease's own worker is gone", async () => {
    const world: World = {
      owned: { fake: [box('dbx_orphaned', 120)] },
      leases: [{ leaseId: 'dbx_orphaned', workflowStatus: 'TERMINATED', releaseAction: 'stop', workerQueue: 'nobody-polls-this@gone' }],
    };
    await withSweepWorker(world, async (taskQueue, rec) => {
      const r = await sweep(taskQueue, { providers: [local], workerPickupMs: 2000 });
      expect(decisionFor(r, 'dbx_orphaned')).toMatchObject({ outcome: 'released', action: 'stop' });
      expect(rec.releasedOn).toEqual(['shared dbx_orphaned stop']);
    });
  });

  it('a dry run decides the same and releases nothing', async () => {
    const world: World = {
      owned: { fake: [box('dbx_old', 120), box('dbx_new', 2)] },
      leases: [{ leaseId: 'dbx_old', workflowStatus: 'TERMINATED', releaseAction: 'stop' }, { leaseId: 'dbx_new', workflowStatus: 'TERMINATED', releaseAction: 'stop' }],
    };
    await withSweepWorker(world, async (taskQueue, rec) => {
      const r = await sweep(taskQueue, { providers: [local], dryRun: true });
      expect(r.dryRun).toBe(true);
      expect(decisionFor(r, 'dbx_old')).toMatchObject({ outcome: 'would-release', action: 'stop' });
      expect(decisionFor(r, 'dbx_new')).toMatchObject({ outcome: 'kept' });
      expect(rec.releases).toHaveLength(0);
    });
  });

  it("one provider's failing listOwned does not stop the others", async () => {
    const world: World = {
      owned: {
        broken: ApplicationFailure.create({ type: 'Provider.auth', message: 'token rejected', nonRetryable: true }),
        flaky: new Error('connection reset'),
        fake: [box('dbx_old', 120)],
      },
      leases: [{ leaseId: 'dbx_old', workflowStatus: 'COMPLETED', releaseAction: 'delete' }],
    };
    await withSweepWorker(world, async (taskQueue, rec) => {
      const r = await sweep(taskQueue, {
        providers: [{ provider: 'broken', providerConfig: {} }, { provider: 'flaky', providerConfig: {} }, local],
      });
      const byName = Object.fromEntries(r.providers.map((p) => [p.provider, p]));
      expect(byName.broken!.error).toMatch(/token rejected/);
      expect(byName.flaky!.error).toMatch(/connection reset/);
      expect(rec.listCalls.filter((c) => c === 'flaky')).toHaveLength(3); // retried, then reported
      expect(decisionFor(r, 'dbx_old')).toMatchObject({ outcome: 'released', action: 'delete' });
    });
  });

  it('signals release to a running lease whose box vanished, after its worker confirms', async () => {
    const world: World = { owned: { fake: [] }, leases: [], found: ['dbx_stillthere'] };
    await withSweepWorker(world, async (taskQueue) => {
      // A real lease workflow (fake activities), ready and waiting.
      const input = leaseInput({ provider: 'fake', releaseAfterRun: false });
      const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
      for (let s = await handle.query(statusQuery); s.phase !== 'ready'; s = await handle.query(statusQuery)) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const mk = (leaseId: string): LeaseFacts => ({
        leaseId,
        workflowStatus: 'RUNNING',
        phase: 'ready',
        workerQueue: `${taskQueue}@w1`,
        box: { provider: 'fake', leaseId, resourceId: `box-${leaseId}`, scope: 'test', details: {} },
      });
      world.leases.push(mk(input.leaseId), mk('dbx_stillthere'), { ...mk('dbx_creating'), phase: 'creating' });
      const r = await sweep(taskQueue, { providers: [local] });
      expect(decisionFor(r, input.leaseId)).toMatchObject({ outcome: 'release-requested' });
      expect(decisionFor(r, 'dbx_stillthere')).toMatchObject({ outcome: 'kept' });
      expect(decisionFor(r, 'dbx_creating')).toBeUndefined(); // being created: not even looked at
      const summary = await handle.result();
      expect(summary.phase).toBe('released');
      expect(summary.released?.reason).toBe('requested');
      const history = await handle.fetchHistory();
      const signal = history.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'release');
      expect(Buffer.from(signal!.workflowExecutionSignaledEventAttributes!.input!.payloads![0]!.data!).toString()).toMatch(/box has vanished/);
    });
  });
});
