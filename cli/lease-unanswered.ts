/**
 * A lease's status query that no worker answers (none polls the lease's task queue, or none can in
 * time): how to tell from the query's error and the queue's pollers, and what `durabox status` can
 * still say: the server's own record of the lease (its search attributes, as `durabox list` shows
 * them) and who last polled the queue. Without a deadline of ours, such a query waits for the
 * server's own and then fails with a bare "Failed to query Workflow".
 */
import { ServiceError, isGrpcServiceError } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common';
import { noWorkerAnswered, type NoAnswer } from './errors.js';
import type { LeaseHandle } from './lease-client.js';
import { leaseFacts, type LeaseFacts } from './lease-facts.js';
import { trace } from './trace.js';

/**
 * A queue polled this recently may have a worker (the server's own window before it answers a
 * query with "no poller seen"; it keeps pollers listed for minutes).
 */
const RECENT_POLL_MS = 20_000;

/** The lease's facts as its search attributes record them (its state may have moved on since). */
export interface UnansweredStatus extends LeaseFacts {
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
    return (pollers ?? []).map((p) => ({ identity: p.identity ?? '?', lastAccessTime: optionalTsToDate(p.lastAccessTime)?.toISOString() }));
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
  return noAnswerFromPollers(taskQueue ? await pollersOf(handle, taskQueue) : undefined, waitedMs);
}

/** An unanswered query's reason from the queue's pollers (undefined: unknown). */
export function noAnswerFromPollers(pollers: UnansweredStatus['pollers'], waitedMs: number): NoAnswer {
  if (!pollers) return { kind: 'no-answer', waitedMs };
  const ages = pollers.flatMap((p) => (p.lastAccessTime ? [Date.now() - Date.parse(p.lastAccessTime)] : []));
  const lastPollMsAgo = Math.min(...ages);
  return lastPollMsAgo < RECENT_POLL_MS ? { kind: 'polled-no-answer', waitedMs, lastPollMsAgo } : { kind: 'none-polling' };
}

export async function unansweredStatus(handle: LeaseHandle): Promise<UnansweredStatus> {
  const desc = await handle.describe();
  return {
    ...leaseFacts(desc.typedSearchAttributes),
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
