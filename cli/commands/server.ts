/**
 * `durabox server start|stop|status`: the embedded Temporal dev server plus the background worker.
 * Results go to stdout (scriptable); progress goes to stderr.
 */
import { configuredTaskQueue } from '../config/load.js';
import { Command } from 'commander';
import {
  devServerStatus,
  ensureBackgroundWorker,
  ensureDevServer,
  stopBackgroundWorker,
  stopDevServer,
  workerStatus,
} from '../temporal/dev-server.js';
import { ensureCleanupScheduleQuietly } from '../temporal/schedules.js';

const progress = (line: string) => process.stderr.write(`${line}\n`);
const taskQueue = () => configuredTaskQueue();

export function serverCommand(): Command {
  const cmd = new Command('server').description('run the embedded Temporal dev server and the background worker');

  cmd
    .command('start')
    .description('start (or reuse) the Temporal dev server and the background worker')
    .action(async () => {
      const server = await ensureDevServer({ log: progress });
      const status = await devServerStatus();
      const worker = await ensureBackgroundWorker({
        address: server.address,
        namespace: server.namespace,
        taskQueue: taskQueue(),
        log: progress,
      });
      await ensureCleanupScheduleQuietly({ address: server.address, namespace: server.namespace }, taskQueue(), (l) => process.stderr.write(`durabox: warning: ${l}\n`));
      const out = [
        `temporal  ${server.address} (namespace ${server.namespace}) pid ${status.pid ?? '?'}${server.started ? '' : ' (already running)'}`,
        `web ui    ${server.uiUrl}`,
        ...(server.httpUrl ? [`http api  ${server.httpUrl}`] : []),
        `worker    pid ${worker.pid} task queue ${taskQueue()}${worker.started ? '' : ' (already running)'}`,
      ];
      process.stdout.write(out.join('\n') + '\n');
    });

  cmd
    .command('stop')
    .description('stop the background worker, then the Temporal dev server')
    .action(async () => {
      // Worker first: it would otherwise log connection errors while the server goes away.
      const w = await stopBackgroundWorker();
      process.stdout.write(w.stopped ? `worker    stopped (pid ${w.pid}${w.forced ? ', killed' : ''})\n` : 'worker    not running\n');
      const s = await stopDevServer();
      process.stdout.write(s.stopped ? `temporal  stopped (pid ${s.pid}${s.forced ? ', killed' : ''})\n` : 'temporal  not running\n');
    });

  cmd
    .command('status')
    .description('show whether the dev server and the worker are running')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const [server, worker] = [await devServerStatus(), await workerStatus()];
      if (o.json) {
        process.stdout.write(JSON.stringify({ server, worker }, null, 2) + '\n');
        return;
      }
      const lines: string[] = [];
      if (server.running) {
        lines.push(`temporal  running, pid ${server.pid}${server.answering ? '' : ' (NOT answering)'}`);
        lines.push(`          address ${server.address} namespace ${server.namespace}`);
        lines.push(`          web ui  ${server.uiUrl}`);
        if (server.httpUrl) lines.push(`          http api ${server.httpUrl}`);
      } else {
        lines.push(`temporal  not running${server.stalePid ? ` (stale pid file: ${server.stalePid})` : ''}`);
      }
      lines.push(`          db      ${server.dbFile}`, `          log     ${server.logFile}`);
      if (worker.running) {
        lines.push(`worker    running, pid ${worker.pid}${worker.ready ? '' : ' (not polling yet)'} task queue ${worker.taskQueue ?? '?'}`);
      } else {
        lines.push(`worker    not running${worker.stalePid ? ` (stale pid file: ${worker.stalePid})` : ''}`);
      }
      lines.push(`          log     ${worker.logFile}`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  return cmd;
}
