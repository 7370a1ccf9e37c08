/**
 * Bench 5's floor, run in a child process: `node fleet-floor.js <address> <namespace> <queue> <n>
 * <concurrency> <upserts>` drives n floor workflows (bench/floor-workflow.ts) through its own
 * worker and prints the figures as one JSON line.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { FLOOR_STEPS, type floorWorkflow } from './floor-workflow.js';
import { drive, type Throughput } from './throughput.js';

const SELF = fileURLToPath(import.meta.url);
const CHILD_LIMIT_MS = 15 * 60_000;

export async function floorInChild(address: string, namespace: string, queue: string, n: number, concurrency: number, upserts: number): Promise<Throughput> {
  const child = spawn(process.execPath, [SELF, address, namespace, queue, String(n), String(concurrency), String(upserts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  // drive() stops starting after 10 minutes and each workflow is bounded below; this is the backstop.
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
  const code = await new Promise<number | string | null>((resolve) => child.on('close', (c, sig) => resolve(sig ?? c)));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`floor process exited ${code}${code === 'SIGKILL' ? ` (killed after ${CHILD_LIMIT_MS / 60_000} minutes)` : ''}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Throughput;
}

async function main(address: string, namespace: string, queue: string, n: number, concurrency: number, upserts: number): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: queue,
    shutdownGraceTime: '5s',
    workflowBundle: await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./floor-workflow.js', import.meta.url)), logger: new DefaultLogger('WARN') }),
    activities: { step: async (x: number) => x + 1 },
  });
  const client = new Client({ connection: await Connection.connect({ address }), namespace });
  const running = worker.run();
  try {
    const result = await drive(upserts ? `floor with ${upserts} upserts` : 'floor', n, concurrency, async (i) => {
      const workflowId = `floor-${queue}-${i}`;
      const steps = await client.workflow.execute<typeof floorWorkflow>('floorWorkflow', {
        taskQueue: queue,
        workflowId,
        args: [upserts],
        // A floor workflow stuck in task retries fails the bench instead of hanging it.
        workflowExecutionTimeout: '2 minutes',
      });
      if (steps !== FLOOR_STEPS) throw new Error(`floor workflow ran ${steps} steps`);
      return workflowId;
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await client.connection.close();
  }
}

if (process.argv[1] === SELF) {
  const [address, namespace, queue, n, concurrency, upserts] = process.argv.slice(2);
  main(address!, namespace!, queue!, Number(n), Number(concurrency), Number(upserts)).catch((err: unknown) => {
    process.stderr.write(`floor: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
