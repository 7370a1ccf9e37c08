/** Progress lines while a lease is acquired, and the mapping of run failures to exit codes. */
import { failureMessage, failureType } from '../../workflows/describe.js';
import type { LeasePhase } from '../../workflows/messages.js';
import { CliError, NoWorkerAnswerError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { StatusFeed } from '../lease-status-feed.js';
import type { Output } from '../output.js';

const PHASE_TEXT: Partial<Record<LeasePhase, string>> = {
  creating: 'creating the box…',
  starting: 'box created; waiting for SSH…',
  ready: 'box ready',
  running: 'running',
  releasing: 'releasing the box…',
};

/** Print each new phase of the lease on stderr until it runs or `stop` is called. */
export function watchProgress(feed: StatusFeed, out: Output): { stop(): void } {
  let last: LeasePhase | undefined;
  let stopped = false;
  let toldNoWorker = false;
  feed.watch((s, final, error) => {
    if (stopped || final) return true;
    if (error instanceof NoWorkerAnswerError && !toldNoWorker) {
      // The run waits for a worker (it is durable): say so instead of a silence.
      toldNoWorker = true;
      out.step(`waiting for a worker (the lease goes on when one answers): ${error.summary}`);
    }
    if (!s) return false; // the workflow may not have started its first task yet
    if (s.phase !== last) {
      last = s.phase;
      const text = PHASE_TEXT[s.phase];
      if (text) out.step(s.phase === 'ready' && s.target ? `${text} (${s.target.user}@${s.target.host}:${s.target.port})` : text);
    }
    return s.phase === 'running';
  });
  return { stop: () => void (stopped = true) };
}

export function runFailureExit(err: unknown, interrupted: boolean): { code: number; message: string } {
  if (err instanceof CliError) return { code: err.exitCode, message: err.message };
  const type = failureType(err);
  const message = failureMessage(err);
  if (interrupted || type === 'RunCancelled') return { code: ExitCode.interrupted, message: 'run cancelled' };
  if (type === 'LeaseExpired') return { code: ExitCode.timeout, message };
  if (type === 'RunLost') return { code: ExitCode.transport, message };
  if (type === 'InvalidRun') return { code: ExitCode.config, message };
  if (isUpdateFailure(err) || type) return { code: ExitCode.provider, message };
  return { code: ExitCode.internal, message };
}

/** The workflow refused or failed the update (either client's error for it), by name: no SDK import here. */
function isUpdateFailure(err: unknown): boolean {
  const name = err instanceof Error ? err.name : undefined;
  return name === 'WorkflowUpdateFailedError' || name === 'TemporalHttpFailure';
}
