/**
 * Client-side lease operations: build a lease's start options, resolve a lease id or slug to its
 * workflow, and read a lease's status whether it is running or closed. No workflow code is loaded
 * here: workflows are addressed by type name and message definitions only.
 */
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { leaseWorkflow } from '../workflows/lease.js';
import { LEASE_WORKFLOW_TYPE, leaseWorkflowId, statusQuery, type LeaseInput, type LeaseStatus } from '../workflows/messages.js';
import { ExpiresAtKey, LeaseIdKey, OwnerKey, ProviderKey, RepoKey, SlugKey, StateKey } from '../workflows/search-attributes.js';
import { LeaseNotFoundError, NoWorkerAnswerError, STATUS_QUERY_TIMEOUT_MS } from './errors.js';
import { leasesQuery, slugQuery, workflowIdOfRef } from './lease-refs.js';
import { noAnswerOf, whyUnanswered } from './lease-unanswered.js';
import { followSignal } from './call-signal.js';

export type LeaseHandle = WorkflowHandle<typeof leaseWorkflow>;

export function leaseStartOptions(input: LeaseInput, taskQueue: string) {
  const expires = new Date(Date.now() + input.ttlMs);
  return {
    workflowId: leaseWorkflowId(input.leaseId),
    taskQueue,
    args: [input] as [LeaseInput],
    // A second start of the same lease id must never create a second lease, whether the first is
    // still running or already closed (a resend after an RPC timeout); resume overrides this.
    workflowIdConflictPolicy: 'FAIL' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: new TypedSearchAttributes([
      { key: LeaseIdKey, value: input.leaseId },
      { key: ProviderKey, value: input.provider },
      { key: SlugKey, value: input.slug },
      { key: StateKey, value: 'creating' },
      { key: OwnerKey, value: input.owner },
      ...(input.repo ? [{ key: RepoKey, value: input.repo }] : []),
      { key: ExpiresAtKey, value: expires },
    ]),
    memo: { leaseId: input.leaseId, slug: input.slug, provider: input.provider, owner: input.owner, repo: input.repo ?? '', release: input.releaseAction ?? 'provider default' },
    staticSummary: `${input.provider} lease ${input.slug} (${input.leaseId})${input.repo ? ` for ${input.repo}` : ''} by ${input.owner}`,
    staticDetails: [
      `provider: \`${input.provider}\``,
      `release: ${input.releaseAction ?? 'provider default'}${input.releaseAfterRun ? ' after the run' : ' on stop or expiry'}`,
      `idle timeout: ${Math.round(input.idleTimeoutMs / 60000)} min, lifetime: ${Math.round(input.ttlMs / 60000)} min`,
    ]
      // The Web UI renders details as Markdown: a list keeps one fact per line.
      .map((line) => `- ${line}`)
      .join('\n'),
  };
}

export function withStartLease(input: LeaseInput, taskQueue: string) {
  return new WithStartWorkflowOperation<typeof leaseWorkflow>(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
}

export async function slugTaken(client: Client, slug: string): Promise<boolean> {
  for await (const _ of client.workflow.list({ query: `${slugQuery(slug)} AND ExecutionStatus = 'Running'`, pageSize: 1 })) {
    return true;
  }
  return false;
}

/** `dbx_…`, `lease-dbx_…` or a slug → the lease's workflow handle (a running lease wins over closed ones). */
export async function resolveLease(client: Client, ref: string): Promise<LeaseHandle> {
  let workflowId = workflowIdOfRef(ref);
  if (!workflowId) {
    let closed: string | undefined;
    for await (const wf of client.workflow.list({ query: slugQuery(ref) })) {
      if (wf.status.name === 'RUNNING') {
        workflowId = wf.workflowId;
        break;
      }
      closed ??= wf.workflowId;
    }
    workflowId ??= closed;
  }
  if (!workflowId) throw new LeaseNotFoundError(ref);
  const handle = client.workflow.getHandle<typeof leaseWorkflow>(workflowId);
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new LeaseNotFoundError(ref);
    throw err;
  }
  return handle;
}

/**
 * The lease's status: the live query for a running lease, the workflow's result for a finished one
 * (no worker needed). A query no worker answers in time is `NoWorkerAnswerError`, saying whether
 * anyone polls the lease's queue.
 */
export async function leaseStatus(handle: LeaseHandle, queryTimeoutMs = STATUS_QUERY_TIMEOUT_MS): Promise<LeaseStatus & { workflowStatus: string }> {
  const desc = await handle.describe();
  const workflowStatus = desc.status.name;
  if (workflowStatus === 'COMPLETED') {
    return { ...(await handle.result()), workflowStatus };
  }
  const deadline = Date.now() + queryTimeoutMs;
  try {
    return { ...(await handle.client.withDeadline(deadline, () => handle.query(statusQuery))), workflowStatus };
  } catch (err) {
    const kind = noAnswerOf(err, deadline);
    if (!kind) throw err;
    throw new NoWorkerAnswerError(handle.workflowId, desc.taskQueue, await whyUnanswered(handle, desc.taskQueue, kind, queryTimeoutMs));
  }
}

/** Each lease's task queue, once looked up (a lease never changes it). */
const taskQueues = new WeakMap<LeaseHandle, string>();

/**
 * The status query, given up when `signal` fires. A query sent while the lease takes a run update
 * can wait on the server until well after the run ends; a CLI that no longer needs the answer must
 * not wait for it (nor leave it retrying on a connection it is about to close). One that no worker
 * answers is `NoWorkerAnswerError`; the caller asks again when it wants to.
 */
export function queryStatus(handle: LeaseHandle, signal: AbortSignal): Promise<LeaseStatus> {
  return followSignal(signal, async (call) => {
    const deadline = Date.now() + STATUS_QUERY_TIMEOUT_MS;
    try {
      if (signal.aborted) throw new Error('status query given up');
      return await handle.client.withAbortSignal(call, () => handle.client.withDeadline(deadline, () => handle.query(statusQuery)));
    } catch (err) {
      if (signal.aborted) throw err;
      const kind = noAnswerOf(err, deadline);
      if (!kind) throw err;
      // Name the queue, and say whether anyone polls it: worth two calls on this rare path.
      const taskQueue = await handle.client.withAbortSignal(call, async () => {
        const known = taskQueues.get(handle) ?? (await handle.describe()).taskQueue;
        taskQueues.set(handle, known);
        return known;
      }).catch(() => undefined);
      const why = await handle.client.withAbortSignal(call, () => whyUnanswered(handle, taskQueue, kind, STATUS_QUERY_TIMEOUT_MS));
      throw new NoWorkerAnswerError(handle.workflowId, taskQueue, why);
    }
  });
}

/** `resolveLease`, or the most recently started lease when no reference is given. */
export async function resolveLeaseOrLatest(client: Client, ref: string | undefined): Promise<LeaseHandle> {
  if (ref) return resolveLease(client, ref);
  for await (const wf of client.workflow.list({ query: leasesQuery, pageSize: 1 })) {
    return resolveLease(client, wf.workflowId);
  }
  throw new LeaseNotFoundError('(most recent)');
}
