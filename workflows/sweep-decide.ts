/**
 * The cleanup sweep's inputs, results and the one pure rule that decides what happens to each
 * resource. Deterministic (no I/O, time passed in), so the workflow and unit tests share it.
 *
 * The rules, from providers.md §1.6:
 * - a box whose lease workflow is running is kept (a lease being created is never swept);
 * - a box whose lease workflow is closed is an orphan: after the grace period it is released with
 *   the action its lease recorded (what it did at release, else what it was configured with, else
 *   the provider's default), never a more destructive one; a lease that recorded `keep` keeps it;
 * - a box whose marker names a lease this namespace has no record of is reported and left alone,
 *   unless the sweep was explicitly told to release such boxes (then: the provider's default);
 * - only resources `listOwned` returns (they carry durabox's marker) are ever considered.
 */
import type { BoxIdentity, OwnedResource, ReleaseAction } from '../providers/adapter.js';
import type { LeasePhase } from './messages.js';

export const SWEEP_WORKFLOW_TYPE = 'orphanSweepWorkflow';
export const CLEANUP_SCHEDULE_ID = 'durabox-cleanup';
export const DEFAULT_GRACE_MS = 30 * 60_000;

export interface SweepProvider {
  provider: string;
  /** The provider's validated, non-secret settings (credentials stay in the worker's environment). */
  providerConfig: Record<string, unknown>;
}

export interface SweepInput {
  providers: SweepProvider[];
  /** How long after a box was created it is left alone whatever its lease says (default 30 min). */
  graceMs?: number;
  /** Decide and report only; release and signal nothing. */
  dryRun?: boolean;
  /**
   * Release boxes whose marker names a lease this namespace has no record of (with the provider's
   * default action). Off by default: a marker is a hint, not proof, and another Temporal namespace
   * sharing the provider account may own them.
   */
  releaseUnrecorded?: boolean;
  /**
   * How long a release waits for the lease's own worker to pick it up before any worker does it
   * (default 1 min).
   */
  workerPickupMs?: number;
}

/** What Temporal knows about one lease, as the `leaseStatesFor` activity reports it. */
export interface LeaseFacts {
  leaseId: string;
  /** The workflow's status name (`RUNNING`, `COMPLETED`, `TERMINATED`…), or `NOT_FOUND`. */
  workflowStatus: string;
  phase?: LeasePhase;
  slug?: string;
  startedAt?: string;
  closedAt?: string;
  /** The action the lease applied when it released, when it got that far. */
  releasedAction?: ReleaseAction;
  /** The lease's own action: configured, else the provider default recorded at create. */
  releaseAction?: ReleaseAction;
  box?: BoxIdentity;
  /** The per-worker queue of the worker that holds the lease's key. */
  workerQueue?: string;
}

export type SweepOutcome =
  | 'kept'
  | 'released'
  | 'skipped'
  | 'failed'
  | 'would-release'
  | 'release-requested'
  | 'would-request-release';

export interface SweepDecision {
  provider: string;
  leaseId: string;
  resourceId?: string;
  outcome: SweepOutcome;
  reason: string;
  /** The action applied (or that would be); absent means the provider's default. */
  action?: ReleaseAction;
  workflowStatus?: string;
}

export interface ProviderSweep {
  provider: string;
  /** How many resources carrying durabox's marker the provider listed. */
  listed: number;
  /** Set when the provider could not be swept at all (listing failed, no discovery). */
  error?: string;
  decisions: SweepDecision[];
}

export interface SweepResult {
  startedAt: string;
  dryRun: boolean;
  graceMs: number;
  providers: ProviderSweep[];
  counts: Record<SweepOutcome, number>;
}

/** What to do with one listed resource before anything is executed. */
export type Plan =
  | { kind: 'keep'; reason: string }
  | { kind: 'skip'; reason: string }
  | { kind: 'release'; action?: ReleaseAction; reason: string };

const minutes = (ms: number) => `${Math.max(1, Math.round(ms / 60_000))} min`;

/** The lease's own action for an orphan: what it did, else what it was set to do. */
export function recordedAction(lease: LeaseFacts): ReleaseAction | undefined {
  return lease.releasedAction ?? lease.releaseAction;
}

const STOPPED_STATE = /stop|paus|shutdown|exited|hibernat/i;

export function planFor(resource: OwnedResource, lease: LeaseFacts, now: number, input: SweepInput): Plan {
  const graceMs = input.graceMs ?? DEFAULT_GRACE_MS;
  const status = lease.workflowStatus;
  if (status === 'RUNNING') {
    return { kind: 'keep', reason: `lease is running (${lease.phase ?? 'phase unknown'})` };
  }
  const unknown = status === 'NOT_FOUND';
  // Grace counts from the box's creation; a box without a creation time counts from its lease's close.
  const since = resource.createdAt ?? (unknown ? undefined : lease.closedAt);
  const sinceMs = since ? Date.parse(since) : Number.NaN;
  if (Number.isNaN(sinceMs)) {
    return { kind: 'skip', reason: 'no creation time to measure the grace period from' };
  }
  const age = now - sinceMs;
  if (age < graceMs) {
    const why = unknown ? 'no lease record (yet)' : `lease ${status.toLowerCase()}`;
    return { kind: 'keep', reason: `${why}; within the grace period (${minutes(graceMs - age)} left)` };
  }
  if (unknown) {
    if (!input.releaseUnrecorded) {
      return {
        kind: 'skip',
        reason: `its marker names lease ${lease.leaseId}, which this namespace has no record of; not touched (release such boxes with --release-unrecorded)`,
      };
    }
    return { kind: 'release', reason: 'no lease record; released with the provider default as requested' };
  }
  const action = recordedAction(lease);
  if (action === 'keep') return { kind: 'keep', reason: `lease ${status.toLowerCase()} and recorded keep` };
  if (action === 'stop' && STOPPED_STATE.test(resource.state)) {
    return { kind: 'keep', reason: `already ${resource.state}, as its lease (${status.toLowerCase()}) recorded stop` };
  }
  return {
    kind: 'release',
    action,
    reason: `lease ${status.toLowerCase()}; ${action ? `its recorded action is ${action}` : 'no recorded action, provider default'}`,
  };
}

/**
 * Running leases whose box the provider no longer lists (and that are past acquiring): candidates
 * for "vanished", to be confirmed by a direct lookup on the lease's own worker before signalling.
 */
export function vanishedCandidates(listed: OwnedResource[], running: LeaseFacts[]): LeaseFacts[] {
  const present = new Set(listed.map((r) => r.leaseId));
  return running.filter(
    (l) => l.workflowStatus === 'RUNNING' && !!l.box && (l.phase === 'ready' || l.phase === 'running') && !present.has(l.leaseId),
  );
}

export function countOutcomes(reports: ProviderSweep[]): Record<SweepOutcome, number> {
  const counts: Record<SweepOutcome, number> = {
    kept: 0,
    released: 0,
    skipped: 0,
    failed: 0,
    'would-release': 0,
    'release-requested': 0,
    'would-request-release': 0,
  };
  for (const r of reports) for (const d of r.decisions) counts[d.outcome]++;
  return counts;
}
