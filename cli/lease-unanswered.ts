/**
 * A lease's status query that no worker answers (none polls the lease's task queue, or none can in
 * time): how to tell from the query's error and the queue's pollers, and what `durabox status` can
 * still say: the server's own record of the lease (its search attributes, as `durabox list` shows
 * them) and who last polled the queue. Without a deadline of ours, such a query waits for the
 * server's own and then fails with a bare "Failed to query Workflow".
 */
import { ServiceError, isGrpcServiceError } from '@temporalio/client';
import { noWorkerAnswered, type NoAnswer } from './errors.js';
import type { LeaseHandle } from './lease-client.js';
import { trace } from './trace.js';

/**
 * A queue polled this recently may have a worker (the server's own window before it answers a
 * query with "no poller seen"; it keeps pollers listed for minutes).
 */
const RECENT_POLL_MS = 20_000;

export interface UnansweredStatus {
  leaseId?: string;
  slug?: string;
  provider?: string;
  /** The state the lease last published (it may have moved on since). */
  state?: string;
  expiresAt?: string;
  workflowStatus: string;
  taskQueue: string;
  /** Workers that polled the lease's task queue lately, by the server's count (undefined: unknown). */
  pollers?: Array<{ identity: string; lastAccessTime?: string }>;
  answered: false;
}

/** What a status query's error says about the workers (undefined: it says nothing about them). */
export function noAnswerOf(err: unknown, deadline: number): 'none-polling' | 'no-answer' | undefined {
  const grpc = err instanceof ServiceError ? err.cause : err;
  if (!isGrpcServiceError(grpc)) return undefined;
  // CANCELLED shortly before our deadline: the server saw the propagated deadline first.
  const kind = noWorkerAnswered(grpc.code, grpc.details, Date.now() >= deadline - 1000);
  if (!kind) trace(`status query: gRPC code ${grpc.code}: ${grpc.details}`);
  return kind;
}

/** Workers polling `taskQueue` for workflow tasks, by the server's count; undefined if it would not say. */
export async function pollersOf(handle: LeaseHandle, taskQueue: string): Promise<UnansweredStatus['pollers']> {
  try {
    const { pollers } = await handle.client.workflowService.describeTaskQueue({
      namespace: handle.client.options.namespace,
      // TASK_QUEUE_KIND_NORMAL, TASK_QUEUE_TYPE_WORKFLOW (the enums live in @temporalio/proto).
      taskQueue: { name: taskQueue, kind: 1 },
      taskQueueType: 1,
    });
    return (pollers ?? []).map((p) => ({ identity: p.identity ?? '?', lastAccessTime: timestampIso(p.lastAccessTime) }));
  } catch (err) {
    trace(`describe task queue: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Why a status query went unanswered, from its error's kind and the queue's pollers: no poll within
 * the server's window is 'none-polling'; a recent one is named with its age.
 */
export async function whyUnanswered(handle: LeaseHandle, taskQueue: string | undefined, kind: 'none-polling' | 'no-answer', waitedMs: number): Promise<NoAnswer> {
  if (kind === 'none-polling') return { kind };
  const pollers = taskQueue ? await pollersOf(handle, taskQueue) : undefined;
  if (!pollers) return { kind: 'no-answer', waitedMs };
  const ages = pollers.flatMap((p) => (p.lastAccessTime ? [Date.now() - Date.parse(p.lastAccessTime)] : []));
  const lastPollMsAgo = Math.min(...ages);
  return lastPollMsAgo < RECENT_POLL_MS ? { kind: 'polled-no-answer', waitedMs, lastPollMsAgo } : { kind: 'none-polling' };
}

export async function unansweredStatus(handle: LeaseHandle): Promise<UnansweredStatus> {
  const desc = await handle.describe();
  const sa = desc.typedSearchAttributes.getAll();
  const get = (name: string) => sa.find((p) => p.key.name === name)?.value;
  return {
    leaseId: get('DuraboxLeaseId') as string | undefined,
    slug: get('DuraboxSlug') as string | undefined,
    provider: get('DuraboxProvider') as string | undefined,
    state: get('DuraboxState') as string | undefined,
    expiresAt: (get('DuraboxExpiresAt') as Date | undefined)?.toISOString(),
    workflowStatus: desc.status.name,
    taskQueue: desc.taskQueue,
    pollers: await pollersOf(handle, desc.taskQueue),
    answered: false,
  };
}

export function formatUnanswered(u: UnansweredStatus): string {
  const polled = !u.pollers
    ? 'its pollers unknown'
    : u.pollers.length
      ? `polled by ${u.pollers.map((p) => `${p.identity}${p.lastAccessTime ? ` (last poll ${ago(p.lastAccessTime)})` : ''}`).join(', ')}`
      : 'no worker has polled it lately';
  const workflow = u.workflowStatus !== 'RUNNING' ? `, workflow ${u.workflowStatus.toLowerCase()}` : '';
  return [
    `${u.slug ?? '?'}  ${u.leaseId ?? '?'}  ${u.provider ?? '?'}  ${u.state ?? '?'} (last published${workflow}; its worker did not answer)`,
    u.expiresAt ? `  expires:  ${u.expiresAt}` : '',
    `  queue:    ${u.taskQueue}, ${polled}`,
  ]
    .filter(Boolean)
    .join('\n');
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

function timestampIso(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!t?.seconds) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}
