/**
 * A lease's story from its workflow history: what started it, each activity with its summary (the
 * user metadata the Web UI shows), when it ran, how it ended and a few short facts from its result,
 * the signals and updates it received, and how the lease ended. Works for finished leases: it needs
 * only the history, never a worker. Follows continue-as-new back to the first run.
 */
import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time.js';
import { decodePayload, firstPayload, localActivityOutcome, type HistoryEvent } from '../activities/lease-records.js';
import type { CreateBoxResult, ReleaseBoxResult, RunCommandResult, SyncResult } from '../activities/types.js';
import type { BoxIdentity, SshTarget } from '../providers/adapter.js';
import type { LeaseInput, LeaseStatus, ReleaseRequest, RunRequest } from '../workflows/messages.js';
import { describeRun } from '../workflows/describe.js';

export type StepKind = 'start' | 'activity' | 'signal' | 'update' | 'cancel-request' | 'continued' | 'end';

export interface StoryStep {
  kind: StepKind;
  /** When it happened (for an activity: when it was scheduled). ISO time. */
  at: string;
  /** Activity type, signal or update name, or the workflow's end status. */
  name: string;
  /** The activity's summary, or a one-line description of the message or the outcome. */
  summary: string;
  /** Activities: `completed`, `failed`, `timed-out`, `cancelled` or `running`. */
  status?: string;
  endedAt?: string;
  durationMs?: number;
  attempts?: number;
  /** Short facts from the result ("exit 0 in 41 s", "312 files, 1.2 MB") or the failure message. */
  facts?: string;
  /** Worker queue the activity ran on. */
  taskQueue?: string;
  /** A local activity (ran inside a workflow task; recorded as a marker). */
  local?: boolean;
}

export interface LeaseStory {
  workflowId: string;
  status: string;
  summary?: string;
  runs: number;
  steps: StoryStep[];
}

const MAX_RUNS = 50;

/** Activities scheduled without a summary. */
const UNSUMMARISED: Record<string, string> = { claimWorkerQueue: 'claim a worker' };

/** Every event of the workflow's chain of runs, oldest run first. */
export async function fetchChain(client: Client, workflowId: string): Promise<{ events: HistoryEvent[]; runs: number }> {
  const runs: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (let i = 0; i < MAX_RUNS; i++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.unshift(events);
    const previous = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) break;
    runId = previous;
  }
  return { events: runs.flat(), runs: runs.length };
}

const iso = (e: HistoryEvent) => new Date(optionalTsToMs(e.eventTime) ?? 0).toISOString();
const ms = (e: HistoryEvent) => optionalTsToMs(e.eventTime) ?? 0;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

export function formatSeconds(msValue: number): string {
  const s = msValue / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 120) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Short facts from an activity's result, by activity type. */
export function resultFacts(type: string, result: unknown): string | undefined {
  if (result === undefined || result === null) return undefined;
  switch (type) {
    case 'claimWorkerQueue':
      return `worker queue ${String(result)}`;
    case 'createBox': {
      const r = result as CreateBoxResult;
      return `box ${r.box?.resourceId}${r.adopted ? ' (adopted from an earlier attempt)' : ''}`;
    }
    case 'adoptBox':
    case 'waitBoxReady':
    case 'resumeBox': {
      const t = result as SshTarget;
      return `ssh ${t.user}@${t.host}:${t.port}`;
    }
    case 'syncWorkdir': {
      const r = result as SyncResult;
      return r.skipped ? 'skipped (nothing changed)' : `${r.files} file${r.files === 1 ? '' : 's'}, ${formatBytes(r.bytes)}${r.deleted ? `, ${r.deleted} deleted` : ''}`;
    }
    case 'runCommand': {
      const r = result as RunCommandResult;
      const how = r.status === 'timed-out' ? 'timed out' : r.status === 'cancelled' ? 'cancelled' : `exit ${r.exitCode}`;
      return `${how} in ${formatSeconds(r.runMs)}${r.reattached ? ' (reattached)' : ''}`;
    }
    case 'releaseBox': {
      const r = result as ReleaseBoxResult;
      return r.alreadyGone ? `${r.action}: the box was already gone` : `${r.action}${r.note ? ` (${r.note})` : ''}`;
    }
    case 'listOwnedBoxes': {
      const r = result as { resources?: unknown[]; discover?: boolean };
      return r.discover === false ? 'cannot discover' : `${r.resources?.length ?? 0} listed`;
    }
    case 'findLeaseBoxes':
      return `${(result as BoxIdentity[]).length} found`;
    case 'leaseStatesFor':
      return `${(result as unknown[]).length} lease(s)`;
    default:
      return undefined;
  }
}

/** The summary an activity line shows: "run `npm test` → exit 0 in 41 s". */
export function activityLine(step: StoryStep): string {
  if (step.status === 'completed') return `${step.summary} → ${step.facts ?? 'done'}`;
  if (step.status === 'running') return `${step.summary} … (still running)`;
  return `${step.summary} → ${step.status}${step.facts ? `: ${step.facts}` : ''}`;
}

function failureText(f: { message?: string | null; cause?: unknown } | null | undefined): string {
  let msg = f?.message ?? '';
  let cause = f?.cause as { message?: string | null; cause?: unknown } | undefined | null;
  for (let i = 0; i < 5 && cause; i++) {
    if (cause.message) msg = cause.message;
    cause = cause.cause as typeof cause;
  }
  return msg;
}

export async function buildStory(client: Client, workflowId: string): Promise<LeaseStory> {
  const { events, runs } = await fetchChain(client, workflowId);
  const desc = await client.workflow.getHandle(workflowId).describe();
  const summary = await desc.staticSummary().catch(() => undefined);
  const steps: StoryStep[] = [];
  const activities = new Map<string, StoryStep>();
  // Event ids restart in every run of a continue-as-new chain: key activities by run index too.
  let run = 0;
  const key = (id: unknown) => `${run}:${String(id)}`;
  for (const e of events) {
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      if (run++ > 0) continue; // a continued run: its input is carried state, not news
      const input = await firstPayload<LeaseInput>(client, started.input).catch(() => undefined);
      steps.push({ kind: 'start', at: iso(e), name: started.workflowType?.name ?? 'workflow', summary: input ? describeInput(input) : 'started' });
      continue;
    }
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched) {
      const type = sched.activityType?.name ?? 'activity';
      const text = e.userMetadata?.summary ? await decodePayload<string>(client, e.userMetadata.summary).catch(() => undefined) : undefined;
      const step: StoryStep = { kind: 'activity', at: iso(e), name: type, summary: text ?? UNSUMMARISED[type] ?? type, status: 'running', taskQueue: sched.taskQueue?.name ?? undefined };
      activities.set(key(e.eventId), step);
      steps.push(step);
      continue;
    }
    const local = await localActivityOutcome(client, e);
    if (local) {
      // A local activity: one marker, written when the workflow task that ran it completed.
      const endedAt = local.completedMs ?? ms(e);
      const at = Math.min(local.scheduledMs ?? endedAt, endedAt);
      steps.push({
        kind: 'activity',
        at: new Date(at).toISOString(),
        endedAt: new Date(endedAt).toISOString(),
        durationMs: endedAt - at,
        name: local.type,
        summary: UNSUMMARISED[local.type] ?? local.type,
        status: local.failure ? 'failed' : 'completed',
        facts: local.failure ?? resultFacts(local.type, local.result),
        local: true,
      });
      continue;
    }
    const act = e.activityTaskStartedEventAttributes;
    if (act) {
      const step = activities.get(key(act.scheduledEventId));
      if (step) step.attempts = act.attempt ?? 1;
      continue;
    }
    const done = e.activityTaskCompletedEventAttributes;
    const failed = e.activityTaskFailedEventAttributes;
    const timedOut = e.activityTaskTimedOutEventAttributes;
    const canceled = e.activityTaskCanceledEventAttributes;
    const finished = done ?? failed ?? timedOut ?? canceled;
    if (finished) {
      const step = activities.get(key(finished.scheduledEventId));
      if (!step) continue;
      step.endedAt = iso(e);
      step.durationMs = ms(e) - Date.parse(step.at);
      if (done) {
        step.status = 'completed';
        step.facts = resultFacts(step.name, await firstPayload(client, done.result).catch(() => undefined));
      } else if (failed) {
        step.status = 'failed';
        step.facts = failureText(failed.failure);
      } else if (timedOut) {
        step.status = 'timed-out';
        step.facts = failureText(timedOut.failure);
      } else {
        step.status = 'cancelled';
      }
      continue;
    }
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal) {
      const arg = await firstPayload<unknown>(client, signal.input).catch(() => undefined);
      steps.push({ kind: 'signal', at: iso(e), name: signal.signalName ?? 'signal', summary: describeMessage(signal.signalName ?? '', arg) });
      continue;
    }
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      const req = accepted.acceptedRequest?.input;
      const arg = await firstPayload<unknown>(client, req?.args).catch(() => undefined);
      steps.push({ kind: 'update', at: iso(e), name: req?.name ?? 'update', summary: describeMessage(req?.name ?? '', arg) });
      continue;
    }
    if (e.workflowExecutionCancelRequestedEventAttributes) {
      const reason = e.workflowExecutionCancelRequestedEventAttributes.cause;
      steps.push({ kind: 'cancel-request', at: iso(e), name: 'cancel', summary: `cancellation requested${reason ? `: ${reason}` : ''}` });
      continue;
    }
    if (e.workflowExecutionContinuedAsNewEventAttributes) {
      steps.push({ kind: 'continued', at: iso(e), name: 'continued-as-new', summary: 'continued as a new run (history kept short)' });
      continue;
    }
    const end = await describeEnd(client, e);
    if (end) steps.push({ kind: 'end', at: iso(e), ...end });
  }
  return { workflowId, status: desc.status.name, summary, runs, steps };
}

async function describeEnd(client: Client, e: HistoryEvent): Promise<{ name: string; summary: string } | undefined> {
  const completed = e.workflowExecutionCompletedEventAttributes;
  if (completed) {
    const s = await firstPayload<LeaseStatus>(client, completed.result).catch(() => undefined);
    if (s?.released) {
      return { name: 'completed', summary: `${s.phase}: ${s.released.action} after ${s.released.reason}${s.released.note ? ` (${s.released.note})` : ''}` };
    }
    return { name: 'completed', summary: s?.phase ? `completed (${s.phase})` : 'completed' };
  }
  if (e.workflowExecutionFailedEventAttributes) return { name: 'failed', summary: `failed: ${failureText(e.workflowExecutionFailedEventAttributes.failure)}` };
  if (e.workflowExecutionTerminatedEventAttributes) {
    const reason = e.workflowExecutionTerminatedEventAttributes.reason;
    return { name: 'terminated', summary: `terminated${reason ? `: ${reason}` : ''} (no release ran; durabox cleanup sweeps the box)` };
  }
  if (e.workflowExecutionCanceledEventAttributes) return { name: 'cancelled', summary: 'cancelled' };
  if (e.workflowExecutionTimedOutEventAttributes) return { name: 'timed-out', summary: 'timed out' };
  return undefined;
}

function describeInput(i: LeaseInput): string {
  return [
    `${i.provider} lease ${i.slug} (${i.leaseId})`,
    i.repo ? `for ${i.repo}` : '',
    `by ${i.owner};`,
    `release ${i.releaseAction ?? 'provider default'}${i.releaseAfterRun ? ' after the run' : ''},`,
    `ttl ${Math.round(i.ttlMs / 60000)} min, idle ${Math.round(i.idleTimeoutMs / 60000)} min`,
  ]
    .filter(Boolean)
    .join(' ');
}

function describeMessage(name: string, arg: unknown): string {
  if (name === 'run') {
    const r = arg as RunRequest | undefined;
    return r?.argv ? `${describeRun(r.argv)}${r.noSync ? ' (no sync)' : ''}` : 'run';
  }
  if (name === 'release') {
    const r = (arg ?? {}) as ReleaseRequest;
    return `release${r.action ? ` (${r.action})` : ''}${r.reason ? `: ${r.reason}` : ''}`;
  }
  if (name === 'cancel-run') return `cancel run ${(arg as { runId?: string } | undefined)?.runId ?? ''}`.trim();
  return name;
}

const clock = (isoText: string) => isoText.slice(11, 19);

export function formatStory(story: LeaseStory): string {
  const lines = [`${story.workflowId}  ${story.status.toLowerCase()}${story.runs > 1 ? `  (${story.runs} runs)` : ''}`];
  if (story.summary) lines.push(`  ${story.summary}`);
  for (const s of story.steps) {
    const t = clock(s.at);
    if (s.kind === 'activity') {
      const extra = [s.durationMs !== undefined && s.status !== 'running' ? formatSeconds(s.durationMs) : '', s.attempts && s.attempts > 1 ? `${s.attempts} attempts` : '']
        .filter(Boolean)
        .join(', ');
      lines.push(`  ${t}  ${activityLine(s)}${extra ? `  [${extra}]` : ''}`);
    } else if (s.kind === 'signal') lines.push(`  ${t}  signal ${s.summary}`);
    else if (s.kind === 'update') lines.push(`  ${t}  update ${s.summary}`);
    else if (s.kind === 'start') lines.push(`  ${t}  started: ${s.summary}`);
    else if (s.kind === 'end') lines.push(`  ${t}  ${s.summary}`);
    else lines.push(`  ${t}  ${s.summary}`);
  }
  return lines.join('\n');
}
