/**
 * The lease's durable state and the rules for changing it. Pure and deterministic: no activities and
 * no timers here, so the transitions can be unit-tested without a server. `lease.ts` wires it up.
 */
import type { BoxIdentity, ReleaseAction, SshTarget } from '../providers/adapter.js';
import type {
  CarriedState,
  LeaseInput,
  LeasePhase,
  LeaseStatus,
  ReleaseRequest,
  RunRecord,
} from './messages.js';

/** Runs kept in state (and carried across continue-as-new); older ones live on in history only. */
export const MAX_RUNS_KEPT = 50;

export type EndReason = 'requested' | 'after-run' | 'idle' | 'ttl' | 'budget' | 'cancelled' | 'failed' | 'box-lost';

export class LeaseState {
  phase: LeasePhase;
  box?: BoxIdentity;
  target?: SshTarget;
  workerQueue?: string;
  releaseAction: ReleaseAction;
  /** True once the lease knows which action the provider defaults to (or was configured). */
  releaseActionKnown: boolean;
  runs: RunRecord[];
  readonly createdAt: number;
  /** When the provider created the box: a budget's cost accrues from here. */
  boxCreatedAt?: number;
  lastActivityAt: number;
  /** Set when this execution resumes a stopped box (see CarriedState.resuming). */
  resuming: boolean;
  releaseRequest?: ReleaseRequest & { reason: EndReason };
  released?: LeaseStatus['released'];
  error?: string;
  /** Bumped on every change a waiting loop should re-evaluate. */
  version = 0;
  busy = false;

  constructor(
    readonly input: LeaseInput,
    now: number,
  ) {
    const c = input.carried;
    this.phase = c?.phase ?? 'creating';
    this.box = c?.box;
    this.target = c?.target;
    this.workerQueue = c?.workerQueue;
    this.releaseAction = c?.releaseAction ?? input.releaseAction ?? 'keep';
    this.releaseActionKnown = !!c || !!input.releaseAction;
    this.runs = c?.runs ?? [];
    this.createdAt = c ? Date.parse(c.createdAt) : now;
    this.lastActivityAt = c ? Date.parse(c.lastActivityAt) : now;
    this.boxCreatedAt = c?.boxCreatedAt ? Date.parse(c.boxCreatedAt) : undefined;
    this.resuming = !!c?.resuming && !!c.box;
  }

  get ttlDeadline(): number {
    return this.createdAt + this.input.ttlMs;
  }

  get idleDeadline(): number {
    return this.lastActivityAt + this.input.idleTimeoutMs;
  }

  /** When `maxCost` is spent at the box's quoted rate; Infinity without a budget or a rate. */
  get budgetDeadline(): number {
    const rate = this.box?.costPerHour;
    if (!this.input.maxCost || !rate || this.boxCreatedAt === undefined) return Infinity;
    return this.boxCreatedAt + (this.input.maxCost / rate) * 3_600_000;
  }

  get acquiring(): boolean {
    return this.phase === 'creating' || this.phase === 'starting';
  }

  get ended(): boolean {
    return this.phase === 'releasing' || this.phase === 'released' || this.phase === 'failed';
  }

  private bump(now?: number): void {
    if (now !== undefined) this.lastActivityAt = now;
    this.version++;
  }

  created(box: BoxIdentity, defaultAction: ReleaseAction, now: number): void {
    this.box = box;
    this.boxCreatedAt ??= now;
    if (!this.releaseActionKnown) {
      this.releaseAction = defaultAction;
      this.releaseActionKnown = true;
    }
    this.phase = 'starting';
    this.bump();
  }

  /** The box would not start and was destroyed: acquire another. */
  replaceBox(): void {
    this.box = undefined;
    this.target = undefined;
    this.boxCreatedAt = undefined;
    this.phase = 'creating';
    this.bump();
  }

  ready(target: SshTarget, now: number): void {
    this.target = target;
    this.resuming = false;
    this.phase = 'ready';
    this.bump(now);
  }

  touch(now: number): void {
    this.bump(now);
  }

  requestRelease(req: ReleaseRequest, reason: EndReason): void {
    if (this.releaseRequest || this.ended) return;
    this.releaseRequest = { ...req, reason };
    this.bump();
  }

  beginRun(runId: string, argv: string[], now: number): RunRecord {
    const existing = this.runs.find((r) => r.runId === runId);
    if (existing) return existing;
    const record: RunRecord = { runId, argv, status: 'running', startedAt: new Date(now).toISOString() };
    this.runs.push(record);
    if (this.runs.length > MAX_RUNS_KEPT) this.runs.splice(0, this.runs.length - MAX_RUNS_KEPT);
    this.busy = true;
    this.phase = 'running';
    this.bump(now);
    return record;
  }

  endRun(record: RunRecord, update: Partial<RunRecord>, now: number): void {
    Object.assign(record, update, { endedAt: new Date(now).toISOString() });
    this.busy = false;
    if (this.phase === 'running') this.phase = 'ready';
    this.bump(now);
  }

  fail(message: string): void {
    this.error = message;
    this.phase = 'failed';
    this.bump();
  }

  startReleasing(): void {
    if (this.phase !== 'failed') this.phase = 'releasing';
    this.bump();
  }

  finishRelease(action: ReleaseAction, reason: EndReason, at: number, note?: string): void {
    this.released = { action, reason, at: new Date(at).toISOString(), note };
    if (this.phase !== 'failed') this.phase = 'released';
    this.bump();
  }

  /** What the lease should do next, given the time; undefined means keep waiting. */
  due(now: number, continueAsNewSuggested: boolean): EndReason | 'continue-as-new' | undefined {
    if (this.releaseRequest) return this.releaseRequest.reason;
    if (now >= this.ttlDeadline) return 'ttl';
    if (now >= this.budgetDeadline) return 'budget';
    if (this.busy) return undefined;
    if (now >= this.idleDeadline) return 'idle';
    if (continueAsNewSuggested) return 'continue-as-new';
    return undefined;
  }

  /** When the waiting loop must wake up on its own. */
  nextWake(): number {
    const hard = Math.min(this.ttlDeadline, this.budgetDeadline);
    return this.busy ? hard : Math.min(hard, this.idleDeadline);
  }

  status(): LeaseStatus {
    return {
      leaseId: this.input.leaseId,
      slug: this.input.slug,
      provider: this.input.provider,
      phase: this.phase,
      releaseAction: this.releaseAction,
      box: this.box,
      target: this.target,
      workerQueue: this.workerQueue,
      idleDeadline: this.ended ? undefined : new Date(this.idleDeadline).toISOString(),
      ttlDeadline: new Date(this.ttlDeadline).toISOString(),
      runs: this.runs,
      released: this.released,
      error: this.error,
      boxCreatedAt: this.boxCreatedAt === undefined ? undefined : new Date(this.boxCreatedAt).toISOString(),
      maxCost: this.input.maxCost,
      budgetDeadline: Number.isFinite(this.budgetDeadline) ? new Date(this.budgetDeadline).toISOString() : undefined,
    };
  }

  carry(): CarriedState {
    return {
      phase: this.phase === 'running' ? 'ready' : this.phase,
      createdAt: new Date(this.createdAt).toISOString(),
      box: this.box,
      target: this.target,
      workerQueue: this.workerQueue,
      releaseAction: this.releaseAction,
      runs: this.runs.slice(-MAX_RUNS_KEPT),
      lastActivityAt: new Date(this.lastActivityAt).toISOString(),
      boxCreatedAt: this.boxCreatedAt === undefined ? undefined : new Date(this.boxCreatedAt).toISOString(),
    };
  }
}
