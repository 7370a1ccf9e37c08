/**
 * What `durabox status` can say about a running lease whose worker does not answer its status
 * query (no worker polls the lease's task queue, or none is able to): the server's own record of
 * the lease (its search attributes, as `durabox list` shows them) and who last polled the queue.
 * A query with no worker to answer it would otherwise wait for the server's deadline, twice.
 */
import type { LeaseHandle } from './lease-client.js';

export interface UnansweredStatus {
  leaseId?: string;
  slug?: string;
  provider?: string;
  /** The state the lease last published (it may have moved on since). */
  state?: string;
  expiresAt?: string;
  workflowStatus: string;
  taskQueue: string;
  /** Workers that polled the lease's task queue recently, by the server's count. */
  pollers: Array<{ identity: string; lastAccessTime?: string }>;
  answered: false;
}

export async function unansweredStatus(handle: LeaseHandle): Promise<UnansweredStatus> {
  const desc = await handle.describe();
  const sa = desc.typedSearchAttributes.getAll();
  const get = (name: string) => sa.find((p) => p.key.name === name)?.value;
  const { pollers } = await handle.client.workflowService.describeTaskQueue({
    namespace: handle.client.options.namespace,
    // TASK_QUEUE_KIND_NORMAL, TASK_QUEUE_TYPE_WORKFLOW (the enums live in @temporalio/proto).
    taskQueue: { name: desc.taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  return {
    leaseId: get('DuraboxLeaseId') as string | undefined,
    slug: get('DuraboxSlug') as string | undefined,
    provider: get('DuraboxProvider') as string | undefined,
    state: get('DuraboxState') as string | undefined,
    expiresAt: (get('DuraboxExpiresAt') as Date | undefined)?.toISOString(),
    workflowStatus: desc.status.name,
    taskQueue: desc.taskQueue,
    pollers: (pollers ?? []).map((p) => ({ identity: p.identity ?? '?', lastAccessTime: timestampIso(p.lastAccessTime) })),
    answered: false,
  };
}

export function formatUnanswered(u: UnansweredStatus): string {
  const polled = u.pollers.length
    ? `polled by ${u.pollers.map((p) => `${p.identity}${p.lastAccessTime ? ` (last poll ${ago(p.lastAccessTime)})` : ''}`).join(', ')}`
    : 'no worker has polled it lately';
  return [
    `${u.slug ?? '?'}  ${u.leaseId ?? '?'}  ${u.provider ?? '?'}  ${u.state ?? '?'} (last published; its worker did not answer)`,
    u.expiresAt ? `  expires:  ${u.expiresAt}` : '',
    `  queue:    ${u.taskQueue}, ${polled}`,
  ]
    .filter(Boolean)
    .join('\n');
}

function timestampIso(t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!t?.seconds) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}
