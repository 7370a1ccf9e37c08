/**
 * Resume a lease that ended with its box stopped (or kept): a new execution of the same lease
 * workflow id, carrying the box, its pinned host key, its release action and its runs, starts the
 * box again (`resumeBox`) instead of creating one. The lease keeps its id and slug; its lifetime and
 * idle timers start afresh. A lease whose box was deleted, or that never had one, cannot resume.
 */
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import type { leaseWorkflow } from '../workflows/lease.js';
import { LEASE_WORKFLOW_TYPE, type LeaseInput, type LeaseSummary } from '../workflows/messages.js';
import { CliError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { leaseStartOptions, type LeaseHandle } from './lease-client.js';

/**
 * For a lease that has ended: `start`, a factory of the start operation that resumes it (each
 * operation can be sent once; a retried send needs a fresh one). For a lease that still runs: the
 * id of its current run, where the run update goes as usual.
 */
export async function resumeOperation(
  client: Client,
  handle: LeaseHandle,
  taskQueue: string,
): Promise<{ start?: () => WithStartWorkflowOperation<typeof leaseWorkflow>; runId?: string }> {
  const desc = await handle.describe();
  if (desc.status.name === 'RUNNING') return { runId: desc.runId };
  const options = await resumeStartOptions(client, handle, taskQueue, {}, desc);
  return { start: options && (() => new WithStartWorkflowOperation<typeof leaseWorkflow>(LEASE_WORKFLOW_TYPE, options)) };
}

/**
 * Start options of the execution that resumes the lease; undefined while the lease still runs.
 * `keep` resumes it as a kept lease (`warmup --id`) whatever its first run asked.
 */
export async function resumeStartOptions(
  client: Client,
  handle: LeaseHandle,
  taskQueue: string,
  opts: { keep?: boolean } = {},
  described?: Awaited<ReturnType<LeaseHandle['describe']>>,
) {
  const desc = described ?? (await handle.describe());
  if (desc.status.name === 'RUNNING') return undefined;
  const ref = handle.workflowId.replace(/^lease-/, '');
  if (desc.status.name !== 'COMPLETED') {
    throw new CliError(`lease ${ref} ended ${desc.status.name.toLowerCase()}; start a new lease`, ExitCode.notFound);
  }
  const summary = (await handle.result()) as LeaseSummary;
  const action = summary.released?.action;
  if (!summary.box || !summary.target || (action !== 'stop' && action !== 'keep')) {
    throw new CliError(`lease ${ref} ended and its box was ${action === 'delete' ? 'deleted' : 'never ready'}; start a new lease`, ExitCode.notFound);
  }
  const input = await firstInput(client, handle);
  const now = new Date().toISOString();
  const resumed: LeaseInput = {
    ...input,
    ...(opts.keep ? { releaseAfterRun: false } : {}),
    carried: {
      phase: 'starting',
      resuming: true,
      createdAt: now,
      lastActivityAt: now,
      box: summary.box,
      target: summary.target,
      releaseAction: summary.releaseAction,
      runs: summary.runs,
    },
  };
  return {
    ...leaseStartOptions(resumed, taskQueue),
    // Only a closed lease is started again; a running one is never duplicated.
    workflowIdConflictPolicy: 'FAIL' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
  };
}

/** The LeaseInput the lease's last execution started with (names and settings only). */
async function firstInput(client: Client, handle: LeaseHandle): Promise<LeaseInput> {
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload) throw new CliError(`lease ${handle.workflowId}: no start input in its history`, ExitCode.temporal);
  const input = client.options.loadedDataConverter.payloadConverter.fromPayload<LeaseInput>(payload);
  const { carried: _old, ...rest } = input;
  return rest;
}
