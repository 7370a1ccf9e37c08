/**
 * Which lease took a run, for `durabox logs RUN` on a machine whose worker did not run it. A run
 * is its lease's `run` update, and the update's id is the run id, so the server itself can say
 * which running lease has it: no worker needs to answer, and a lease whose worker is gone costs
 * one quick "not found" instead of a status query's 15 s. A run older than its lease's last
 * continue-as-new is no longer an update of the current execution; only the status query of such
 * a lease (in parallel, one deadline for all) finds those.
 */
import { setMaxListeners } from 'node:events';
import { ServiceError, isGrpcServiceError, type Client } from '@temporalio/client';
import { LEASE_WORKFLOW_TYPE } from '../workflows/messages.js';
import { queryStatus, resolveLease, type LeaseHandle } from './lease-client.js';
import { followSignal } from './call-signal.js';
import { trace } from './trace.js';

// gRPC NOT_FOUND, and UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED (enums of @temporalio/proto).
const NOT_FOUND = 5;
const STAGE_ADMITTED = 1;
/** Server calls in flight at once: a fleet may run hundreds of leases. */
const PARALLEL = 16;
const UPDATE_LOOKUP_TIMEOUT_MS = 10_000;

/** The running lease whose run (or, from the lease file, any lease) `runId` is; undefined if none. */
export async function leaseOfRun(client: Client, runId: string, recordedLease?: string): Promise<LeaseHandle | undefined> {
  if (recordedLease) return resolveLease(client, recordedLease);
  const running: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${LEASE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'` })) {
    running.push(wf.workflowId);
  }
  const byUpdate = await firstMatch(running, (id, signal) => hasUpdate(client, id, runId, signal));
  if (byUpdate) return client.workflow.getHandle(byUpdate) as LeaseHandle;
  // Only a lease that continued as new can hold a run that is not an update of its current execution.
  const byStatus = await firstMatch(running, async (id, signal) => {
    if (!(await continuedAsNew(client, id, signal))) return false;
    const s = await queryStatus(client.workflow.getHandle(id) as LeaseHandle, signal);
    return s.runs.some((r) => r.runId === runId);
  });
  return byStatus ? (client.workflow.getHandle(byStatus) as LeaseHandle) : undefined;
}

/** Whether the current execution of `workflowId` was started by a continue-as-new (its first event says). */
async function continuedAsNew(client: Client, workflowId: string, signal: AbortSignal): Promise<boolean> {
  const { history } = await followSignal(signal, (own) =>
    client.withAbortSignal(own, () =>
      client.workflowService.getWorkflowExecutionHistory({ namespace: client.options.namespace, execution: { workflowId }, maximumPageSize: 1 }),
    ),
  );
  return Boolean(history?.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId);
}

/** Whether the current execution of `workflowId` has the update `updateId`, at any stage. */
async function hasUpdate(client: Client, workflowId: string, updateId: string, signal: AbortSignal): Promise<boolean> {
  try {
    await followSignal(signal, (own) =>
      client.withAbortSignal(own, () =>
        client.withDeadline(Date.now() + UPDATE_LOOKUP_TIMEOUT_MS, () =>
          client.workflowService.pollWorkflowExecutionUpdate({
            namespace: client.options.namespace,
            updateRef: { workflowExecution: { workflowId }, updateId },
            identity: client.options.identity,
            // The server answers at once for an update it knows at any stage (even one no worker
            // has accepted yet), and NOT_FOUND at once for one it does not.
            waitPolicy: { lifecycleStage: STAGE_ADMITTED },
          }),
        ),
      ),
    );
    return true;
  } catch (err) {
    const grpc = err instanceof ServiceError ? err.cause : err;
    // NOT_FOUND: not this lease's (current execution's) update. Anything else (a deadline, say)
    // says nothing either way; the status query may still find the run.
    if (!(isGrpcServiceError(grpc) && grpc.code === NOT_FOUND) && !signal.aborted) trace(`update lookup on ${workflowId}: ${(err as Error).message}`);
    return false;
  }
}

/**
 * The first of `items` (in any order) for which `test` holds, testing up to PARALLEL at once. It
 * answers as soon as one holds and aborts the tests still in flight (a silent lease's query would
 * otherwise keep the connection, and the process, alive until its deadline).
 */
function firstMatch(items: string[], test: (item: string, signal: AbortSignal) => Promise<boolean>): Promise<string | undefined> {
  const stop = new AbortController();
  // Each lane's call listens on it (and forwards to a controller of its own, see followSignal).
  setMaxListeners(PARALLEL + 1, stop.signal);
  return new Promise((resolve) => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (!stop.signal.aborted && next < items.length) {
        const item = items[next++]!;
        if (await test(item, stop.signal).catch(() => false)) {
          if (!stop.signal.aborted) resolve(item);
          stop.abort();
        }
      }
    };
    void Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, lane)).then(() => resolve(undefined));
  });
}
