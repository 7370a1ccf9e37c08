/** Adapts the current activity's Context to the adapters' ProgressContext. */
import { Context } from '@temporalio/activity';
import type { ProgressContext } from '../providers/adapter.js';

export function progressContext(): ProgressContext {
  const ctx = Context.current();
  return {
    heartbeat: (details?: unknown) => ctx.heartbeat(details),
    signal: ctx.cancellationSignal,
    log: (message: string) => ctx.log.info(message),
  };
}
