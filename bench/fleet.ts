/**
 * Bench 5: fleet throughput. N leases through create → run → release on one worker, started the
 * way the CLI starts them (update-with-start of the first run, release after it), against the dev
 * server. The real leaseWorkflow runs (the prebuilt bundle) with instant activities: a worker in
 * this process, laid out like `durabox worker` (fleet queue + the worker's own queue), and fake
 * activities typed like the real ones. Nothing here is registered as a provider.
 *
 * Reports leases/s, p50/p99 lease latency (start call → workflow closed), history events per
 * one-run lease, and the peak RSS of this process (worker + client) sampled every 100 ms.
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
import { historyEvents, log, median, percentile, reps, round, withBench, type Row } from './support.js';

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

export async function fleetBench(): Promise<{ rows: Row[]; n: number; concurrency: number; wallSeconds: number; historyEventTypes: Record<string, number> }> {
  const n = Number(process.env.DURABOX_BENCH_FLEET_N) || 500;
  const concurrency = Number(process.env.DURABOX_BENCH_FLEET_CONCURRENCY) || 50;
  return withBench('fleet', { worker: false }, async (b) => {
    const bundle = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing; run npm run build`);
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      /* already installed in this process */
    }
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const connection = await NativeConnection.connect({ address: b.server!.address });
    const ownQueue = `${b.taskQueue}@bench-worker`;
    const activities = instantActivities(ownQueue);
    const common = { connection, namespace: b.server!.namespace, shutdownGraceTime: '5s' as const, maxHeartbeatThrottleInterval: '2s' as const };
    const shared = await Worker.create({ ...common, taskQueue: b.taskQueue, workflowBundle: { codePath: bundle }, activities });
    const own = await Worker.create({ ...common, taskQueue: ownQueue, activities });
    const running = Promise.all([shared.run(), own.run()]);
    const client = await b.connect();
    const latencies: number[] = [];
    const ids: string[] = [];
    let failed = 0;
    let wall = 0;
    try {
      const one = async (i: number) => {
        const leaseId = newLeaseId();
        const input: LeaseInput = {
          leaseId, slug: `bench-${i}`, provider: 'bench', providerConfig: {}, releaseAfterRun: true,
          idleTimeoutMs: 30 * 60_000, ttlMs: 90 * 60_000, repoName: 'repo', repo: 'example.com/bench/repo', owner: 'bench@local',
        };
        const t0 = performance.now();
        // As the CLI sends it: asked again through the server's RPC timeouts.
        const t = { client, workflowId: leaseWorkflowId(leaseId), updateId: newRunId(), req: { argv: ['true'], localRoot: '/bench/repo', env: {} }, startOperation: () => withStartLease(input, b.taskQueue) };
        await runUpdateOutcome(t, sendRunUpdate(t));
        await client.workflow.getHandle(leaseWorkflowId(leaseId)).result();
        latencies.push(performance.now() - t0);
        ids.push(leaseWorkflowId(leaseId));
      };
      // Warm-up (not counted): JIT, sticky cache, server tables.
      await Promise.all(Array.from({ length: Math.min(20, concurrency) }, (_, i) => one(-i - 1)));
      latencies.length = 0;
      ids.length = 0;
      peakRss = process.memoryUsage().rss;
      log(`fleet: ${n} leases, ${concurrency} in flight`);
      let next = 0;
      const deadline = Date.now() + 10 * 60_000;
      const t0 = performance.now();
      const lane = async () => {
        while (next < n && Date.now() < deadline) {
          const i = next++;
          await one(i).catch((err) => {
            failed++;
            if (failed <= 3) log(`fleet: lease ${i} failed: ${(err as Error).message}`);
          });
          if ((i + 1) % 100 === 0) log(`fleet: ${i + 1} started, ${latencies.length} done, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      wall = (performance.now() - t0) / 1000;
    } finally {
      clearInterval(sampler);
      shared.shutdown();
      own.shutdown();
      await running.catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
    const done = latencies.length;
    const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 10)) === 0).slice(0, 10);
    const counts: number[] = [];
    const types: Record<string, number> = {};
    for (const id of sample) {
      const ev = await historyEvents(client, id);
      counts.push(ev.length);
      if (id === sample[0]) for (const e of ev) types[e.type] = (types[e.type] ?? 0) + 1;
    }
    const rate = done / wall;
    const events = median(counts);
    const rssMb = peakRss / 2 ** 20;
    const note = done < n ? `only ${done}/${n} finished (${failed} failed)` : failed ? `${failed} failed` : undefined;
    const rows: Row[] = [
      { bench: '5 fleet throughput', metric: `${done} leases create → run → release, ${concurrency} in flight`, value: round(rate, 1), unit: 'leases/s', target: '≥ 20/s', met: rate >= 20 && done === n, note },
      { bench: '5 fleet throughput', metric: 'lease latency p50', value: round(percentile(latencies, 50)), unit: 'ms' },
      { bench: '5 fleet throughput', metric: 'lease latency p99', value: round(percentile(latencies, 99)), unit: 'ms' },
      { bench: '5 fleet throughput', metric: 'history events per one-run lease', value: events, unit: 'events', target: '< 60', met: events < 60 },
      { bench: '5 fleet throughput', metric: 'worker process peak RSS', value: round(rssMb), unit: 'MB', target: '< 400 MB', met: rssMb < 400, note: 'worker and client share this process' },
    ];
    return { rows, n: done, concurrency, wallSeconds: round(wall, 1), historyEventTypes: types };
  });
}
