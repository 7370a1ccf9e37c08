/**
 * A durabox worker: workflows and shared activities on the fleet's task queue, plus the
 * lease-affine activities on a queue only this worker polls (`<queue>@<worker id>`). The worker id
 * is stable per state dir, so a worker restarted after a crash picks up its leases' retries.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { workerDir } from '../../providers/common/state-dir.js';
import { lazyActivityClient } from './activity-client.js';
import type { ClusterSettings } from './connect.js';
import { existingWorkerId, workerIdFile } from '../worker-identity.js';
import { distFile } from '../package-paths.js';

export interface WorkerRunOptions {
  cluster: ClusterSettings;
  taskQueue: string;
  log?: (line: string) => void;
}

/** `DURABOX_WORKER_ID`, else an id generated once and kept in the worker dir. */
export function workerId(): string {
  const existing = existingWorkerId();
  if (existing) return existing;
  const file = workerIdFile();
  const id = `${hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 40)}-${randomBytes(4).toString('hex')}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/** The prebuilt bundle when present (fast start), else bundle from the compiled workflows. */
function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = distFile('workflow-bundle.js');
  if (existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: distFile('workflows/index.js') };
}

export async function runWorker(opts: WorkerRunOptions): Promise<void> {
  const log = opts.log ?? (() => {});
  const id = workerId();
  const workerQueue = `${opts.taskQueue}@${id}`;
  const connection = await NativeConnection.connect({ address: opts.cluster.address, tls: opts.cluster.tls, apiKey: opts.cluster.apiKey });
  const client = lazyActivityClient(opts.cluster);
  const activities = createActivities({ workerQueue, client: client.get });
  // Heartbeats reach the server at most every 0.8 × heartbeatTimeout (12 s) by default, and a
  // cancellation (Ctrl-C, durabox stop) reaches an activity only with a heartbeat's answer; 2 s
  // keeps Ctrl-C → remote process group killed within a few seconds.
  const common = { connection, namespace: opts.cluster.namespace, shutdownGraceTime: '10s' as const, maxHeartbeatThrottleInterval: '2s' as const };
  const shared = await Worker.create({ ...common, taskQueue: opts.taskQueue, ...workflowSource(), activities });
  const own = await Worker.create({ ...common, taskQueue: workerQueue, activities });
  writeFileSync(join(workerDir(), 'ready'), `${process.pid}\n`);
  log(`worker ${id} polling ${opts.taskQueue} and ${workerQueue} on ${opts.cluster.address}`);
  try {
    await Promise.all([shared.run(), own.run()]);
  } finally {
    await client.close();
    await connection.close();
  }
}
