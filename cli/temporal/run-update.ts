/**
 * Send a lease's run update and wait for its outcome through RPC timeouts.
 *
 * A busy server (or one whose workers are not polling yet) answers an update call that waited too
 * long with DEADLINE_EXCEEDED, which the SDK raises as `WorkflowUpdateRPCTimeoutOrCancelledError`.
 * The run goes on regardless, so a CLI must not give up on it: the update is named by its id, and
 * asking again is safe. We poll the update's outcome; if the server never admitted it, we send it
 * again under the same id (the workflow dedupes by update id: never a second run), and if the
 * lease's workflow was never started, we start it again the same way (its id conflict policy is
 * FAIL: never a second lease).
 */
import {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcServiceError,
  type Client,
  type WithStartWorkflowOperation,
} from '@temporalio/client';
import type { leaseWorkflow } from '../../workflows/lease.js';
import { runUpdate, type RunRequest, type RunResult } from '../../workflows/messages.js';

export interface RunUpdateTarget {
  client: Client;
  workflowId: string;
  updateId: string;
  req: RunRequest;
  /** For a new lease: a fresh start operation (each can be used once). */
  startOperation?: () => WithStartWorkflowOperation<typeof leaseWorkflow>;
  /** True once the user interrupted: a run the server never admitted is then not sent again. */
  interrupted?: () => boolean;
  /**
   * The workflow run the update was sent to, when known: its outcome is asked of that run (update
   * ids are unique per run, so a lease that continued as new would not know it).
   */
  workflowRunId?: string;
}

export interface RetryPolicy {
  /** RPC timeouts tolerated in all before giving up. */
  maxTimeouts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_POLICY: RetryPolicy = { maxTimeouts: 20, initialDelayMs: 500, maxDelayMs: 10_000 };

/** Send the run update (starting the lease first when `startOperation` is given). */
export function sendRunUpdate(t: RunUpdateTarget): Promise<RunResult> {
  const { client, req, updateId } = t;
  if (t.startOperation) {
    return client.workflow.executeUpdateWithStart(runUpdate, { args: [req], updateId, startWorkflowOperation: t.startOperation() });
  }
  return client.workflow.getHandle<typeof leaseWorkflow>(t.workflowId).executeUpdate(runUpdate, { args: [req], updateId });
}

/** `first` is the call already in flight; on an RPC timeout the outcome is asked for again. */
export async function runUpdateOutcome(t: RunUpdateTarget, first: Promise<RunResult>, policy: RetryPolicy = DEFAULT_POLICY): Promise<RunResult> {
  let attempt = first;
  for (let timeouts = 0; ; ) {
    try {
      return await attempt;
    } catch (err) {
      if (!isRpcTimeout(err) || ++timeouts > policy.maxTimeouts) throw err;
    }
    await new Promise((r) => setTimeout(r, Math.min(policy.initialDelayMs * 2 ** (timeouts - 1), policy.maxDelayMs)));
    attempt = askAgain(t);
  }
}

/**
 * Pick up a run update whose first send went another way (the HTTP API) and ended without an
 * answer: ask for its outcome by id, send it again only if the server never admitted it.
 */
export function resumeRunUpdate(t: RunUpdateTarget, policy: RetryPolicy = DEFAULT_POLICY): Promise<RunResult> {
  return runUpdateOutcome(t, askAgain(t), policy);
}

async function askAgain(t: RunUpdateTarget): Promise<RunResult> {
  try {
    return await t.client.workflow
      .getHandle<typeof leaseWorkflow>(t.workflowId)
      .getUpdateHandle<RunResult>(t.updateId, t.workflowRunId ? { workflowRunId: t.workflowRunId } : undefined)
      .result();
  } catch (err) {
    // NOT_FOUND: the update (or the workflow) does not exist: the earlier call never got that far.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  if (t.interrupted?.()) throw new NotSentError();
  if (!t.startOperation) return sendRunUpdate(t);
  try {
    return await sendRunUpdate(t);
  } catch (err) {
    // The earlier call did start the lease after all: send the update to it.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return sendRunUpdate({ ...t, startOperation: undefined });
  }
}

/** The user interrupted before the server admitted the run: it was not sent again. */
export class NotSentError extends Error {
  constructor() {
    super('interrupted before the server took the run; it was not sent again');
    this.name = 'NotSentError';
  }
}

// gRPC status codes (the SDK's own grpc-js is not a dependency of ours).
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

function isRpcTimeout(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  // The SDK wraps other gRPC errors of an update call in a ServiceError.
  const grpc = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(grpc) && (grpc.code === DEADLINE_EXCEEDED || grpc.code === UNAVAILABLE);
}
