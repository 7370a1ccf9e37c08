/** `durabox worker`: a foreground worker (for a fleet with TEMPORAL_ADDRESS, or the embedded server). */
import { Command } from 'commander';
import { configuredTaskQueue } from '../config/load.js';
import { makeOutput } from '../output.js';
import { clusterFromEnv } from '../temporal/connect.js';
import { ensureCleanupScheduleQuietly } from '../temporal/schedules.js';

export function workerCommand(): Command {
  return new Command('worker')
    .description('run a durabox worker in the foreground')
    .option('--task-queue <name>', 'task queue (default DURABOX_TASK_QUEUE or durabox)')
    .action(async (_o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { taskQueue?: string; json?: boolean; quiet?: boolean };
      const out = makeOutput(g);
      const taskQueue = g.taskQueue ?? configuredTaskQueue();
      let cluster = clusterFromEnv();
      if (!cluster) {
        const { ensureDevServer } = await import('../temporal/dev-server.js');
        const server = await ensureDevServer({ log: (l) => out.step(l) });
        cluster = { address: server.address, namespace: server.namespace };
      }
      // Best effort and in parallel: a missing schedule must never keep a worker from serving leases.
      void ensureCleanupScheduleQuietly(cluster, taskQueue, (l) => out.warn(l));
      // Lazy: only this command loads the native worker.
      const { runWorker } = await import('../temporal/worker.js');
      await runWorker({ cluster, taskQueue, log: (l) => out.step(l) });
    });
}
