/** Adapts the current activity's Context to the adapters' ProgressContext. */
import { Context } from '@temporalio/activity';
import type { ProgressContext } from '../providers/adapter.js';

/**
 * Run `fn` with a ProgressContext while re-sending the last heartbeat every `everyMs`. For steps
 * that can outlast the heartbeat timeout without being stuck: an ssh login whose remote shell is
 * slow to start (a busy box's ~/.bashrc took 10-18 s in the benches). Each step keeps its own
 * timeout; the heartbeat only says this worker is alive and still on it.
 */
export async function keepingAlive<T>(fn: (progress: ProgressContext) => Promise<T>, everyMs = 5_000): Promise<T> {
  const ctx = Context.current();
  let last: unknown;
  const progress: ProgressContext = {
    heartbeat: (details?: unknown) => {
      last = details;
      ctx.heartbeat(details);
    },
    signal: ctx.cancellationSignal,
    log: (message: string) => ctx.log.info(message),
  };
  const timer = setInterval(() => ctx.heartbeat(last), everyMs);
  try {
    return await fn(progress);
  } finally {
    clearInterval(timer);
  }
}
