/**
 * What Temporal remembers about a lease, read from outside the lease's workflow: its status from
 * describe, and for a closed lease the facts its history holds (input, created box, worker queue,
 * the action it released with). Used by the cleanup sweep's `leaseStatesFor` activity and by
 * `durabox history`. Read-only.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { decodeOptionalSinglePayload } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { LEASE_WORKFLOW_TYPE, leaseWorkflowId, statusQuery, type LeaseInput, type LeasePhase, type LeaseStatus } from '../workflows/messages.js';
import type { LeaseFacts } from '../workflows/sweep-decide.js';
import type { CreateBoxResult, ReleaseBoxResult } from './types.js';

export type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** Decode one payload with the client's data converter (codecs included). */
export async function decodePayload<T>(client: Client, payload: Payload | null | undefined): Promise<T | undefined> {
  return (await decodeOptionalSinglePayload<T>(client.options.loadedDataConverter, payload)) ?? undefined;
}

/** The first payload of a `Payloads` field, decoded. */
export async function firstPayload<T>(client: Client, payloads: { payloads?: Payload[] | null } | null | undefined): Promise<T | undefined> {
  return decodePayload<T>(client, payloads?.payloads?.[0]);
}

/**
 * A local activity's outcome, from the marker the SDK records for it (`core_local_activity`: its
 * type in `data`, its return value in `result`). undefined for any other event.
 */
export async function localActivityOutcome(
  client: Client,
  e: HistoryEvent,
): Promise<{ type: string; result: unknown; failure?: string; scheduledMs?: number; completedMs?: number } | undefined> {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity' || !m.details) return undefined;
  type Ts = { seconds?: number; nanos?: number } | null;
  const data = await firstPayload<{ activity_type?: string; original_schedule_time?: Ts; complete_time?: Ts }>(client, m.details.data).catch(() => undefined);
  if (!data?.activity_type) return undefined;
  const ms = (t?: Ts) => (t && typeof t.seconds === 'number' ? t.seconds * 1000 + Math.round((t.nanos ?? 0) / 1e6) : undefined);
  return {
    type: data.activity_type,
    result: await firstPayload<unknown>(client, m.details.result).catch(() => undefined),
    // A local activity that failed for good records its failure instead of a result.
    failure: m.failure ? m.failure.message || 'failed' : undefined,
    scheduledMs: ms(data.original_schedule_time),
    completedMs: ms(data.complete_time),
  };
}

const QUERY_TIMEOUT_MS = 10_000;
const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Facts about each lease id, plus (with `runningOf`) every running lease of that provider. */
export async function leaseFacts(client: Client, leaseIds: string[], runningOf?: string): Promise<LeaseFacts[]> {
  const ids = new Set(leaseIds);
  if (runningOf) {
    const query = `WorkflowType = ${q(LEASE_WORKFLOW_TYPE)} AND ExecutionStatus = 'Running' AND DuraboxProvider = ${q(runningOf)}`;
    for await (const wf of client.workflow.list({ query })) {
      const id = wf.workflowId.replace(/^lease-/, '');
      if (id !== wf.workflowId) ids.add(id);
    }
  }
  const out: LeaseFacts[] = [];
  for (const id of ids) out.push(await oneLease(client, id));
  return out;
}

async function oneLease(client: Client, leaseId: string): Promise<LeaseFacts> {
  const handle = client.workflow.getHandle(leaseWorkflowId(leaseId));
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { leaseId, workflowStatus: 'NOT_FOUND' };
    throw err;
  }
  const base: LeaseFacts = {
    leaseId,
    workflowStatus: desc.status.name,
    startedAt: desc.startTime.toISOString(),
    closedAt: desc.closeTime?.toISOString(),
    phase: desc.typedSearchAttributes.getAll().find((p) => p.key.name === 'DuraboxState')?.value as LeasePhase | undefined,
  };
  if (desc.status.name === 'RUNNING') {
    // The live state knows the box and its worker; the search attribute alone is the fallback.
    const status = await withTimeout(handle.query(statusQuery), QUERY_TIMEOUT_MS).catch(() => undefined);
    if (!status) return base;
    return { ...base, phase: status.phase, slug: status.slug, box: status.box, workerQueue: status.workerQueue, releaseAction: status.releaseAction };
  }
  const history = await handle.fetchHistory();
  return { ...base, ...(await closedLeaseRecord(client, history.events ?? [])) };
}

/** The facts a closed lease's history records: input (or carried state), create, claim, release. */
export async function closedLeaseRecord(
  client: Client,
  events: HistoryEvent[],
): Promise<Pick<LeaseFacts, 'slug' | 'box' | 'workerQueue' | 'releaseAction' | 'releasedAction'>> {
  const out: Pick<LeaseFacts, 'slug' | 'box' | 'workerQueue' | 'releaseAction' | 'releasedAction'> = {};
  const scheduled = new Map<string, string>();
  for (const e of events) {
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      const input = await firstPayload<LeaseInput>(client, started.input);
      if (input) {
        out.slug = input.slug;
        out.releaseAction = input.carried?.releaseAction ?? input.releaseAction;
        out.box = input.carried?.box;
        out.workerQueue = input.carried?.workerQueue;
      }
    }
    // Newer leases claim their worker with a local activity (a marker), older ones with a task.
    const local = await localActivityOutcome(client, e);
    if (local?.type === 'claimWorkerQueue' && typeof local.result === 'string') out.workerQueue = local.result;
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name) scheduled.set(String(e.eventId), sched.activityType.name);
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const type = scheduled.get(String(done.scheduledEventId));
      if (type === 'claimWorkerQueue') out.workerQueue = await firstPayload<string>(client, done.result);
      if (type === 'createBox') {
        const r = await firstPayload<CreateBoxResult>(client, done.result);
        if (r) {
          out.box = r.box;
          out.releaseAction ??= r.defaultReleaseAction;
        }
      }
      if (type === 'releaseBox') out.releasedAction = (await firstPayload<ReleaseBoxResult>(client, done.result))?.action;
    }
    const completed = e.workflowExecutionCompletedEventAttributes;
    if (completed) {
      const summary = await firstPayload<LeaseStatus>(client, completed.result).catch(() => undefined);
      if (summary) {
        out.box ??= summary.box;
        out.workerQueue ??= summary.workerQueue;
        out.releaseAction = summary.releaseAction;
        out.releasedAction = summary.released?.action ?? out.releasedAction;
      }
    }
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
