/** Errors the CLI turns into one stderr line and an exit code (see `cli/entry.ts`). */
import { ExitCode, type ExitCodeValue } from './exit-codes.js';

/** Thrown by the CLI when an error should end the command with a specific exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
  }
}

/** Thrown by config loading and flag parsing when input is invalid; nothing has been created. */
export class ConfigError extends CliError {
  override name = 'ConfigError';
  constructor(message: string) {
    super(message, ExitCode.config);
  }
}

/**
 * How long a lease's status query may wait for a worker: past a dead worker's sticky queue timeout
 * (10 s), after which the server hands the query to any worker on the lease's queue.
 */
export const STATUS_QUERY_TIMEOUT_MS = 15_000;

/**
 * A query's gRPC code and message say no worker answered: our deadline passed (DEADLINE_EXCEEDED,
 * or CANCELLED when the server saw the deadline first), or the server gave up first because nothing
 * polls the queue (FAILED_PRECONDITION "no poller seen for task queue recently").
 */
export function noWorkerAnswered(code: number | undefined, message: string, deadlinePassed: boolean): boolean {
  return code === 4 || (code === 1 && deadlinePassed) || (code === 9 && /no poller seen/i.test(message));
}

/** A running lease's status query went unanswered: no worker polls its task queue, or none in time. */
export class NoWorkerAnswerError extends CliError {
  override name = 'NoWorkerAnswerError';
  constructor(
    readonly workflowId: string,
    /** The lease's task queue, when known. */
    readonly taskQueue: string | undefined,
    readonly waitedMs: number,
  ) {
    super(
      `no worker answered for ${workflowId} within ${Math.round(waitedMs / 1000)} s: is a durabox worker polling ${queueText(taskQueue)}? (durabox status shows what the server records)`,
      ExitCode.worker,
    );
  }

  get queueText(): string {
    return queueText(this.taskQueue);
  }
}

/** Thrown when a lease id or slug names no lease. */
export class LeaseNotFoundError extends CliError {
  override name = 'LeaseNotFoundError';
  constructor(ref: string) {
    super(`no lease ${JSON.stringify(ref)} (see durabox list)`, ExitCode.notFound);
  }
}

const queueText = (taskQueue: string | undefined) => (taskQueue ? `task queue ${JSON.stringify(taskQueue)}` : "the lease's task queue");
