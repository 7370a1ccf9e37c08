/** Workflows pushed through a fixed number of lanes, as bench 5 and its floor drive them. */
import { log } from './support.js';

/** Leases (or floor workflows) pushed through `concurrency` lanes: what finished, how fast. */
export interface Throughput {
  latencies: number[];
  ids: string[];
  failed: number;
  wall: number;
}

/**
 * Run `one` n times, `concurrency` at a time, after an uncounted warm-up (JIT, sticky cache, server
 * tables) that ends with `afterWarmUp`. `one` resolves with the workflow id once its workflow has
 * closed.
 */
export async function drive(what: string, n: number, concurrency: number, one: (i: number) => Promise<string>, afterWarmUp?: () => void): Promise<Throughput> {
  await Promise.all(Array.from({ length: Math.min(20, concurrency) }, (_, i) => one(-i - 1)));
  afterWarmUp?.();
  const out: Throughput = { latencies: [], ids: [], failed: 0, wall: 0 };
  log(`${what}: ${n}, ${concurrency} in flight`);
  let next = 0;
  const deadline = Date.now() + 10 * 60_000;
  const t0 = performance.now();
  const lane = async () => {
    while (next < n && Date.now() < deadline) {
      const i = next++;
      const started = performance.now();
      await one(i).then(
        (id) => {
          out.latencies.push(performance.now() - started);
          out.ids.push(id);
        },
        (err: unknown) => {
          out.failed++;
          if (out.failed <= 3) log(`${what}: ${i} failed: ${(err as Error).message}`);
        },
      );
      if ((i + 1) % 100 === 0) log(`${what}: ${i + 1} started, ${out.latencies.length} done, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  out.wall = (performance.now() - t0) / 1000;
  return out;
}

