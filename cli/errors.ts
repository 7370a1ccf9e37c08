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

/** Why a lease's status query went unanswered. */
export type NoAnswer =
  /** Nothing polls the lease's task queue: the server said so, or lists no recent poller. */
  | { kind: 'none-polling' }
  /** No answer in time, though a worker polled the queue lately (gone since, busy, failing its tasks). */
  | { kind: 'polled-no-answer'; waitedMs: number; lastPollMsAgo: number }
  /** No answer in time; who polls is unknown. */
  | { kind: 'no-answer'; waitedMs: number };

/**
 * What a status query's gRPC code and message say about the workers: our deadline passed
 * (DEADLINE_EXCEEDED, or CANCELLED when the server saw the deadline first), or the server gave up
 * because nothing polls the queue (FAILED_PRECONDITION "no poller seen for task queue recently").
 * Undefined for any other error.
 */
export function noWorkerAnswered(code: number | undefined, message: string, deadlinePassed: boolean): 'none-polling' | 'no-answer' | undefined {
  if (code === 9 && /no poller seen/i.test(message)) return 'none-polling';
  if (code === 4 || (code === 1 && deadlinePassed)) return 'no-answer';
  return undefined;
}

/** A running lease's status query went unanswered: no worker polls its task queue, or none in time. */
export class NoWorkerAnswerError extends CliError {
  override name = 'NoWorkerAnswerError';
  constructor(
    readonly workflowId: string,
    /** The lease's task queue, when known. */
    readonly taskQueue: string | undefined,
    readonly why: NoAnswer,
  ) {
    super(`${noAnswerText(workflowId, taskQueue, why)} (durabox status shows what the server records)`, ExitCode.worker);
  }

  /** The message without the pointer to `durabox status`. */
  get summary(): string {
    return noAnswerText(this.workflowId, this.taskQueue, this.why);
  }
}

function noAnswerText(workflowId: string, taskQueue: string | undefined, why: NoAnswer): string {
  const queue = taskQueue ? `task queue ${JSON.stringify(taskQueue)}` : "the lease's task queue";
  if (why.kind === 'none-polling') return `no durabox worker polls ${queue} (${workflowId}): start one with durabox worker, or check its Temporal settings`;
  const waited = `within ${Math.round(why.waitedMs / 1000)} s`;
  if (why.kind === 'polled-no-answer') {
    const ago = Math.round(why.lastPollMsAgo / 1000);
    return `no worker answered for ${workflowId} ${waited}, though ${queue} was polled ${ago} s ago (a worker gone since, busy, or failing its workflow tasks: see its log and the lease in the Web UI)`;
  }
  return `no worker answered for ${workflowId} ${waited}: is a durabox worker polling ${queue}?`;
}

/** Thrown when a lease id or slug names no lease. */
export class LeaseNotFoundError extends CliError {
  override name = 'LeaseNotFoundError';
  constructor(ref: string) {
    super(`no lease ${JSON.stringify(ref)} (see durabox list)`, ExitCode.notFound);
  }
}
