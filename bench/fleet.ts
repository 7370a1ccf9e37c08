/**
 * Bench 5: fleet throughput. N leases through create → run → release on one worker, started the
 * way the CLI starts them (update-with-start of the first run, release after it), against the dev
 * server. The real leaseWorkflow runs (the prebuilt bundle) with instant activities: a worker in
 * this process, laid out like `durabox worker` (fleet queue + the worker's own queue), and fake
 * activities typed like the real ones. Nothing here is registered as a provider.
 *
 * Reports leases/s, p50/p99 lease latency (start call → workflow closed), history events per
 * one-run lease, and the peak RSS of this process (worker + client) sampled every 100 ms.
 *
 * The floor, measured first in the same run on the same server and worker settings: a workflow of
 * five no-op activities (bench/floor-workflow.ts), the fewest round trips a lease's create,
 * wait-ready, sync, run and release could cost. Its rate bounds what any lease design with those
 * five activities reaches here; the ratio is what durabox adds on top. A second floor adds as many
 * search-attribute upserts as a lease makes: each is a visibility write in the dev server's SQLite.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker, DefaultLogger } from '@temporalio/worker';
import type { createActivities } from '../activities/index.js';
import type { SshTarget } from '../providers/adapter.js';
import { withStartLease } from '../cli/lease-client.js';
import { newLeaseId, newRunId } from '../cli/lease-ids.js';
import { runUpdateOutcome, sendRunUpdate } from '../cli/temporal/run-update.js';
import { leaseWorkflowId, type LeaseInput } from '../workflows/messages.js';
import { FLOOR_STEPS, LEASE_UPSERTS } from './floor-workflow.js';
import { floorInChild } from './fleet-floor.js';
import { drive, type Throughput } from './throughput.js';
import { historyEvents, median, percentile, round, withBench, type Row } from './support.js';

type Activities = ReturnType<typeof createActivities>;

const target: SshTarget = {
  user: 'bench',
  host: '127.0.0.1',
  port: 1,
  keyPath: '/nonexistent/bench-key',
  hostKeyAlias: 'durabox-bench',
  hostKeys: ['ssh-ed25519 AAAAbench'],
  workRoot: '/bench',
};

/**
 * Instant versions of the activities a one-run lease calls, with the real signatures. Activities the
 * lease path never calls are left out (the cast): the workflow would fail loudly if it did.
 */
export function instantActivities(workerQueue: string): Activities {
  const fakes: Partial<Activities> = {
    async claimWorkerQueue() {
      return workerQueue;
    },
    async createBox(input) {
      return { box: { provider: input.provider, leaseId: input.leaseId, resourceId: `bench-${input.leaseId}`, scope: 'bench', details: {} }, defaultReleaseAction: 'delete', adopted: false };
    },
    async waitBoxReady() {
      return target;
    },
    async resumeBox() {
      return target;
    },
    async syncWorkdir() {
      return { workdir: '/bench/x', files: 1, bytes: 1, deleted: 0, skipped: true, ms: 0 };
    },
    async runCommand() {
      return { exitCode: 0, status: 'succeeded', tail: '', runMs: 0, stdoutBytes: 0, stderrBytes: 0, reattached: false };
    },
    async releaseBox(input) {
      return { action: input.action ?? 'delete', alreadyGone: false, count: 1 };
    },
  };
  return fakes as Activities;
}

/** Each round's finished workflows per second, and their median. */
function medianRate(rounds: Throughput[]): number {
  return median(rounds.map((t) => t.latencies.length / t.wall));
}

/** The median over rounds of numerator's rate / denominator's rate in the same round. */
function medianRatio(numerator: Throughput[], denominator: Throughput[]): number {
  const rate = (t: Throughput) => t.latencies.length / t.wall;
  return median(numerator.map((t, i) => rate(t) / rate(denominator[i]!)));
}

function rates(rounds: Throughput[]): number[] {
  return rounds.map((t) => round(t.latencies.length / t.wall, 1));
}

function pooled(rounds: Throughput[]): Throughput {
  return {
    latencies: rounds.flatMap((t) => t.latencies),
    ids: rounds.flatMap((t) => t.ids),
    failed: rounds.reduce((a, t) => a + t.failed, 0),
    wall: rounds.reduce((a, t) => a + t.wall, 0),
  };
}

export async function fleetBench(): Promise<{ rows: Row[]; n: number; concurrency: number; wallSeconds: number; floor: { n: number; wallSeconds: number; perSecond: number; withUpserts: number }; roundRates: Record<string, number[]>; historyEventTypes: Record<string, number> }> {
  const n = Number(process.env.DURABOX_BENCH_FLEET_N) || 500;
  const concurrency = Number(process.env.DURABOX_BENCH_FLEET_CONCURRENCY) || 50;
  const rounds = Number(process.env.DURABOX_BENCH_FLEET_ROUNDS) || 3;
  return withBench('fleet', { worker: false }, async (b) => {
    const bundle = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing; run npm run build`);
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      /* already installed in this process */
    }
    const connection = await NativeConnection.connect({ address: b.server!.address });
    const common = { connection, namespace: b.server!.namespace, shutdownGraceTime: '5s' as const, maxHeartbeatThrottleInterval: '2s' as const };
    const client = await b.connect();

    const ownQueue = `${b.taskQueue}@bench-worker`;
    const activities = instantActivities(ownQueue);
    const shared = await Worker.create({ ...common, taskQueue: b.taskQueue, workflowBundle: { codePath: bundle }, activities });
    const own = await Worker.create({ ...common, taskQueue: ownQueue, activities });
    const running = Promise.all([shared.run(), own.run()]);
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const oneLease = async (i: number) => {
      const leaseId = newLeaseId();
      const input: LeaseInput = {
        leaseId, slug: `bench-${i}`, provider: 'bench', providerConfig: {}, releaseAfterRun: true,
        idleTimeoutMs: 30 * 60_000, ttlMs: 90 * 60_000, repoName: 'repo', repo: 'example.com/bench/repo', owner: 'bench@local',
      };
      // As the CLI sends it: asked again through the server's RPC timeouts.
      const t = { client, workflowId: leaseWorkflowId(leaseId), updateId: newRunId(), req: { argv: ['true'], localRoot: '/bench/repo', env: {} }, startOperation: () => withStartLease(input, b.taskQueue) };
      await runUpdateOutcome(t, sendRunUpdate(t));
      await client.workflow.getHandle(leaseWorkflowId(leaseId)).result();
      return leaseWorkflowId(leaseId);
    };
    // The machine's speed drifts by tens of percent within minutes, so the leases and the two floors
    // take turns in rounds on the same server; each rate is the median of its rounds, and each ratio
    // the median of the rounds' own ratios. The floors run in child processes: their workers'
    // memory is not the lease worker's.
    const perRound = Math.ceil(n / rounds);
    const leaseRounds: Throughput[] = [];
    const floorRounds: Throughput[] = [];
    const upsertRounds: Throughput[] = [];
    try {
      for (let r = 0; r < rounds; r++) {
        const phases = [
          async () => floorRounds.push(await floorInChild(b.server!.address, b.server!.namespace, `${b.taskQueue}-floor-${r}`, perRound, concurrency, 0)),
          async () => upsertRounds.push(await floorInChild(b.server!.address, b.server!.namespace, `${b.taskQueue}-floor-sa-${r}`, perRound, concurrency, LEASE_UPSERTS)),
          // Peak RSS counts from the leases' first warm-up on: the steady state, not start-up.
          async () => leaseRounds.push(await drive(`fleet round ${r + 1}/${rounds}`, perRound, concurrency, oneLease, leaseRounds.length === 0 ? () => (peakRss = process.memoryUsage().rss) : undefined)),
        ];
        // Each round starts with another phase, so no phase always meets the largest database.
        for (let k = 0; k < phases.length; k++) await phases[(r + k) % phases.length]!();
      }
    } finally {
      clearInterval(sampler);
      shared.shutdown();
      own.shutdown();
      await running.catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
    const leases = pooled(leaseRounds);
    const floor = pooled(floorRounds);
    const floorUpserts = pooled(upsertRounds);
    const { latencies, ids, failed, wall } = leases;
    const done = latencies.length;
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 10)) === 0).slice(0, 10);
    const counts: number[] = [];
    const types: Record<string, number> = {};
    for (const id of sample) {
      const ev = await historyEvents(client, id);
      counts.push(ev.length);
      if (id === sample[0]) for (const e of ev) types[e.type] = (types[e.type] ?? 0) + 1;
    }
    const rate = medianRate(leaseRounds);
    const floorRate = medianRate(floorRounds);
    const upsertRate = medianRate(upsertRounds);
    // Ratios within each round (the same minutes of the machine), then their median.
    const leaseRatio = medianRatio(floorRounds, leaseRounds);
    const upsertRatio = medianRatio(floorRounds, upsertRounds);
    const events = median(counts);
    const rssMb = peakRss / 2 ** 20;
    const total = perRound * rounds;
    const note = done < total ? `only ${done}/${total} finished (${failed} failed)` : failed ? `${failed} failed` : undefined;
    const rows: Row[] = [
      {
        bench: '5 fleet throughput',
        metric: `${done} leases create → run → release, ${concurrency} in flight (median of ${rounds} rounds)`,
        value: round(rate, 1),
        unit: 'leases/s',
        // A rate: the floor is the higher figure, and the ratio says how many times slower a lease
        // is (the median of the rounds' own ratios, so not always baseline / value).
        baseline: round(floorRate, 1),
        baselineUnit: 'workflows/s',
        baselineLabel: `(floor: a workflow of ${FLOOR_STEPS} no-op activities in a row)`,
        ratio: round(leaseRatio, 2),
        target: '≥ 20/s',
        met: rate >= 20 && done === total,
        note: [note, floor.failed ? `floor: ${floor.failed} failed` : undefined].filter(Boolean).join('; ') || undefined,
      },
      {
        bench: '5 fleet throughput',
        metric: `floor with ${LEASE_UPSERTS} search-attribute upserts, as many as a lease makes`,
        value: round(upsertRate, 1),
        unit: 'workflows/s',
        baseline: round(floorRate, 1),
        baselineLabel: '(the floor without them)',
        ratio: round(upsertRatio, 2),
        note: floorUpserts.failed ? `${floorUpserts.failed} failed` : undefined,
      },
      { bench: '5 fleet throughput', metric: 'lease latency p50', value: round(percentile(latencies, 50)), unit: 'ms', baseline: round(percentile(floor.latencies, 50)), baselineLabel: 'floor workflow p50' },
      { bench: '5 fleet throughput', metric: 'lease latency p99', value: round(percentile(latencies, 99)), unit: 'ms', baseline: round(percentile(floor.latencies, 99)), baselineLabel: 'floor workflow p99' },
      { bench: '5 fleet throughput', metric: 'history events per one-run lease', value: events, unit: 'events', target: '< 60', met: events < 60 },
      { bench: '5 fleet throughput', metric: 'worker process peak RSS', value: round(rssMb), unit: 'MB', target: '< 400 MB', met: rssMb < 400, note: 'worker and client share this process' },
    ];
    return { rows, n: done, concurrency, wallSeconds: round(wall, 1), floor: { n: floor.latencies.length, wallSeconds: round(floor.wall, 1), perSecond: round(floorRate, 1), withUpserts: round(upsertRate, 1) },
      roundRates: { leases: rates(leaseRounds), floor: rates(floorRounds), floorWithUpserts: rates(upsertRounds) }, historyEventTypes: types };
  });
}
