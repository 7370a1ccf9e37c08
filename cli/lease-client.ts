/**
 * Client-side lease operations: build a lease's start options, resolve a lease id or slug to its
 * workflow, and read a lease's status whether it is running or closed. No workflow code is loaded
 * here: workflows are addressed by type name and message definitions only.
 */
import { ServiceError, WithStartWorkflowOperation, WorkflowNotFoundError, isGrpcServiceError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { leaseWorkflow } from '../workflows/lease.js';
import { LEASE_WORKFLOW_TYPE, leaseWorkflowId, statusQuery, type LeaseInput, type LeaseStatus } from '../workflows/messages.js';
import { ExpiresAtKey, LeaseIdKey, OwnerKey, ProviderKey, RepoKey, SlugKey, StateKey } from '../workflows/search-attributes.js';
import { LeaseNotFoundError, NoWorkerAnswerError, STATUS_QUERY_TIMEOUT_MS, noWorkerAnswered } from './errors.js';
import { leasesQuery, slugQuery, workflowIdOfRef } from './lease-refs.js';
import { trace } from './trace.js';

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
 * (no worker needed). A query no worker answers in time is `NoWorkerAnswerError`.
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
    throw unanswered(err, handle.workflowId, desc.taskQueue, deadline, queryTimeoutMs);
  }
}

/**
 * A status query's error, as NoWorkerAnswerError when it says no worker answered by `deadline`.
 * Without a deadline of ours, such a query waits for the server's own and then fails with a bare
 * "Failed to query Workflow".
 */
function unanswered(err: unknown, workflowId: string, taskQueue: string | undefined, deadline: number, waitedMs: number): unknown {
  const grpc = err instanceof ServiceError ? err.cause : err;
  if (!isGrpcServiceError(grpc)) return err;
  if (noWorkerAnswered(grpc.code, grpc.details, Date.now() >= deadline)) return new NoWorkerAnswerError(workflowId, taskQueue, waitedMs);
  trace(`status query: gRPC code ${grpc.code}: ${grpc.details}`);
  return err;
}

/**
 * The status query, given up when `signal` fires. A query sent while the lease takes a run update
 * can wait on the server until well after the run ends; a CLI that no longer needs the answer must
 * not wait for it (nor leave it retrying on a connection it is about to close).
 */
export async function queryStatus(handle: LeaseHandle, signal: AbortSignal): Promise<LeaseStatus> {
  // One controller per call: the client adds an abort listener per call and never removes it, so a
  // long-lived signal would collect them (and Node warns after ten).
  const call = new AbortController();
  const forward = () => call.abort();
  signal.addEventListener('abort', forward, { once: true });
  const deadline = Date.now() + STATUS_QUERY_TIMEOUT_MS;
  try {
    if (signal.aborted) throw new Error('status query given up');
    return await handle.client.withAbortSignal(call.signal, () => handle.client.withDeadline(deadline, () => handle.query(statusQuery)));
  } catch (err) {
    const mapped = signal.aborted ? err : unanswered(err, handle.workflowId, undefined, deadline, STATUS_QUERY_TIMEOUT_MS);
    if (!(mapped instanceof NoWorkerAnswerError)) throw mapped;
    // Name the queue nobody polls: worth a describe on this rare path.
    const taskQueue = (await handle.describe().catch(() => undefined))?.taskQueue;
    throw new NoWorkerAnswerError(handle.workflowId, taskQueue, mapped.waitedMs);
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

/** `resolveLease`, or the most recently started lease when no reference is given. */
export async function resolveLeaseOrLatest(client: Client, ref: string | undefined): Promise<LeaseHandle> {
  if (ref) return resolveLease(client, ref);
  for await (const wf of client.workflow.list({ query: leasesQuery, pageSize: 1 })) {
    return resolveLease(client, wf.workflowId);
  }
  throw new LeaseNotFoundError('(most recent)');
}
