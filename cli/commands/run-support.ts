/** Progress lines while a lease is acquired, and the mapping of run failures to exit codes. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { failureMessage, failureType } from '../../workflows/describe.js';
import { statusQuery, type LeasePhase } from '../../workflows/messages.js';
import { CliError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { LeaseHandle } from '../lease-client.js';
import type { Output } from '../output.js';

const PHASE_TEXT: Partial<Record<LeasePhase, string>> = {
  creating: 'creating the box…',
  starting: 'box created; waiting for SSH…',
  ready: 'box ready',
  running: 'running',
  releasing: 'releasing the box…',
};

/** Poll the lease's status query and print each new phase on stderr until stopped (await `stop`). */
export function watchProgress(handle: Promise<LeaseHandle>, out: Output, intervalMs = 300) {
  let last: LeasePhase | undefined;
  let stopped = false;
  // stop() cuts the pause between queries short: the CLI's exit must not wait out a poll interval.
  let wake: (() => void) | undefined;
  const loop = async () => {
    const h = await handle.catch(() => undefined);
    while (h && !stopped) {
      try {
        const s = await h.query(statusQuery);
        if (s.phase !== last) {
          last = s.phase;
          const text = PHASE_TEXT[s.phase];
          if (text && !stopped) out.step(s.phase === 'ready' && s.target ? `${text} (${s.target.user}@${s.target.host}:${s.target.port})` : text);
        }
        if (s.phase === 'running') return;
      } catch {
        // The workflow may not have started its first task yet.
      }
      if (stopped) return;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, intervalMs);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  };
  const done = loop().catch(() => undefined);
  // Resolves once no query is in flight: the CLI closes its connection right after, and a query
  // still retrying then would throw on the closed channel from a timer and crash the process.
  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await done;
    },
  };
}

export function runFailureExit(err: unknown, interrupted: boolean): { code: number; message: string } {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  const type = failureType(err);
  const message = failureMessage(err);
  if (interrupted || type === 'RunCancelled') return { code: ExitCode.interrupted, message: 'run cancelled' };
  if (type === 'LeaseExpired') return { code: ExitCode.timeout, message };
  if (type === 'RunLost') return { code: ExitCode.transport, message };
  if (err instanceof WorkflowUpdateFailedError || type) return { code: ExitCode.provider, message };
  return { code: ExitCode.internal, message };
}
