/**
 * The lease workflow's public surface: its input, its messages and their payloads. The CLI imports
 * this module at runtime (the definitions are plain names), never the workflow code itself.
 * The names themselves are in `lease-names.ts` (recorded in history: permanent).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BoxIdentity, ReleaseAction, SshTarget } from '../providers/adapter.js';
import { MESSAGE_NAMES as N } from './lease-names.js';

export { LEASE_WORKFLOW_TYPE, TASK_QUEUE_DEFAULT, leaseWorkflowId } from './lease-names.js';

/** Everything a lease needs to start. Names and settings only: never a credential. */
export interface LeaseInput {
  leaseId: string;
  slug: string;
  provider: string;
  /** The provider's validated, non-secret settings. */
  providerConfig: Record<string, unknown>;
  /** Configured release action; when absent the provider's default applies. */
  releaseAction?: ReleaseAction;
  /** Release after the first run completes (a plain `durabox run`). */
  releaseAfterRun: boolean;
  idleTimeoutMs: number;
  ttlMs: number;
  /**
   * Boxes to try in all when one will not start (the provider reports `capacity` while waiting for
   * it), each failed box released with the lease's action first. Default 1 (no replacement).
   */
  acquireAttempts?: number;
  /** US$ budget: the lease ends once the box's quoted `costPerHour` × time since create reaches it. */
  maxCost?: number;
  /** Repository name used for the remote workdir; informational `repo` for search. */
  repoName: string;
  repo?: string;
  owner: string;
  /** How long the lease's worker may leave an activity unclaimed before another worker takes over. */
  workerPickupTimeoutMs?: number;
  /** Set only when continuing as new: the state carried over. */
  carried?: CarriedState;
}

/** A single command to run on the box. */
export interface RunRequest {
  /** argv, each item quoted separately on the box. */
  argv: string[];
  /** Absolute local directory to sync before running (on the worker's machine). */
  localRoot?: string;
  /** Skip the sync step entirely. */
  noSync?: boolean;
  /** Names and values of forwarded environment variables (allowlisted by the CLI; never secrets). */
  env?: Record<string, string>;
  /** Extra exclude patterns for this sync. */
  excludes?: string[];
  /** Kill the command after this many ms. */
  timeoutMs?: number;
  /** Log in the full way: skip the box's cached login environment for this run. */
  freshLogin?: boolean;
  /**
   * The client synced the tree to the box itself (its machine is not the lease worker's, so the
   * worker cannot read the tree). Recorded as the run's sync; no sync activity runs.
   */
  clientSync?: ClientSyncReport;
  /**
   * Where `localRoot` is: the worker id of the client's machine (absent when no worker ever ran
   * there). A lease held by another worker cannot read that path, so the run is refused with
   * `SyncFromClient` before it starts, and the client syncs itself (clientAccess + clientSync).
   */
  origin?: { workerId?: string };
}

export interface ClientSyncReport {
  files: number;
  bytes: number;
  deleted: number;
  skipped: boolean;
  ms: number;
}

/** `ssh-ed25519 <base64>` with no options and no comment: safe to append to authorized_keys. */
export const CLIENT_PUBLIC_KEY = /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA[A-Za-z0-9+/]{44}$/;

/** A client on another machine than the lease's worker asks to reach the box with its own key. */
export interface ClientAccessRequest {
  publicKey: string;
}

export interface ClientAccess {
  /** The box as the lease reaches it, host keys pinned; `keyPath` is the worker's own path. */
  target: SshTarget;
  /** False when the provider logs in only with its configured key (no per-client keys). */
  authorized: boolean;
  /** The lease's repository directory name under `<workRoot>/<leaseId>/`. */
  repoName: string;
}

export type RunStatus = 'succeeded' | 'failed' | 'cancelled' | 'timed-out' | 'lost';

export interface RunRecord {
  runId: string;
  argv: string[];
  status: RunStatus | 'running' | 'queued';
  exitCode?: number;
  startedAt?: string;
  endedAt?: string;
  timings?: RunTimings;
  sync?: { files: number; bytes: number; deleted: number; skipped: boolean };
  /** Last lines of output, bounded; the full output lives in the run's log files. */
  tail?: string;
  error?: string;
}

export interface RunTimings {
  syncMs: number;
  runMs: number;
  totalMs: number;
}

export interface RunResult extends RunRecord {
  exitCode: number;
  /** The queue of the worker that ran it last: its machine holds the run's output files. */
  workerQueue?: string;
}

export interface ReleaseRequest {
  /** Override of the lease's release action for this release. */
  action?: ReleaseAction;
  reason?: string;
}

export type LeasePhase =
  | 'creating'
  | 'starting'
  | 'ready'
  | 'running'
  | 'releasing'
  | 'released'
  | 'failed';

export interface LeaseStatus {
  leaseId: string;
  slug: string;
  provider: string;
  phase: LeasePhase;
  releaseAction: ReleaseAction;
  box?: BoxIdentity;
  target?: SshTarget;
  /** Task queue of the worker that holds this lease's key. */
  workerQueue?: string;
  idleDeadline?: string;
  ttlDeadline: string;
  runs: RunRecord[];
  released?: { action: ReleaseAction; at: string; reason: string; note?: string };
  error?: string;
  /** When the box was created (cost accrues from here), and the budget if one was set. */
  boxCreatedAt?: string;
  maxCost?: number;
  /** When the budget runs out at the quoted rate (absent without a budget or a rate). */
  budgetDeadline?: string;
}

export interface LeaseSummary extends LeaseStatus {}

/** State carried across continue-as-new. */
export interface CarriedState {
  phase: LeasePhase;
  createdAt: string;
  box?: BoxIdentity;
  target?: SshTarget;
  workerQueue?: string;
  releaseAction: ReleaseAction;
  runs: RunRecord[];
  lastActivityAt: string;
  boxCreatedAt?: string;
  /**
   * A new execution of a lease that ended with its box stopped (or kept): the box is started again
   * with `resumeBox` instead of waiting for a new one. Set only by the CLI's resume.
   */
  resuming?: boolean;
}

export const runUpdate = defineUpdate<RunResult, [RunRequest]>(N.runUpdate);
/** Let a client's public key in (where the provider can) and return the pinned target. */
export const clientAccessUpdate = defineUpdate<ClientAccess, [ClientAccessRequest]>(N.clientAccessUpdate);
export const releaseSignal = defineSignal<[ReleaseRequest]>(N.releaseSignal);
export const touchSignal = defineSignal<[]>(N.touchSignal);
export const statusQuery = defineQuery<LeaseStatus>(N.statusQuery);

/** Cancel one run (Ctrl-C on a kept lease): the remote process group is killed, the lease stays. */
export const cancelRunSignal = defineSignal<[{ runId: string }]>(N.cancelRunSignal);
