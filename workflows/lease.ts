/**
 * leaseWorkflow: one durable lease of one box.
 *
 *   claim a worker → create → wait ready → (sync → run)* on updates → release
 *
 * Any failure or cancellation after create releases the box inside a non-cancellable scope with the
 * lease's release action (configured, else the provider's default); nothing here is ever more
 * destructive than that. Deterministic code only: activities do all I/O.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  currentUpdateInfo,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  log,
  patched,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { ReleaseAction } from '../providers/adapter.js';
import {
  WORKER_PICKUP_TIMEOUT,
  claimLocalOptions,
  claimOptions,
  createOptions,
  releaseOptions,
  runOptions,
  syncOptions,
  waitReadyOptions,
} from './activity-options.js';
import { LeaseState, type EndReason } from './lease-state.js';
import {
  CLIENT_PUBLIC_KEY,
  cancelRunSignal,
  clientAccessUpdate,
  releaseSignal,
  runUpdate,
  statusQuery,
  touchSignal,
  type LeaseInput,
  type LeaseSummary,
  type RunRequest,
  type RunResult,
} from './messages.js';
import { describeRun, failureMessage, failureType } from './describe.js';
import { ExpiresAtKey, StateKey } from './search-attributes.js';

type Activities = ReturnType<typeof createActivities>;

/** A lease moves between workers at most this often per call before it gives up. */
const MAX_WORKER_MOVES = 5;

const shared = proxyActivities<Activities>(claimOptions);
const local = proxyLocalActivities<Activities>(claimLocalOptions);

/**
 * The worker that will hold the lease's key: the one running this workflow task. Leases that
 * publish settled state were all started after the claim became a local activity, so they skip
 * that older patch (and the marker and upsert each patch records).
 */
function claimWorker(settledState: boolean): Promise<string> {
  return settledState || patched('claim-worker-locally') ? local.claimWorkerQueue() : shared.claimWorkerQueue();
}

/**
 * Activities that touch the box run on the worker that holds the lease's key. Those that may find
 * that worker gone wait at most `pickupMs` to be picked up (see `onLeaseWorker`).
 */
function onWorker(queue: string, pickupMs: number | string = WORKER_PICKUP_TIMEOUT) {
  const here = { taskQueue: queue, scheduleToStartTimeout: pickupMs };
  return {
    create: proxyActivities<Activities>({ ...createOptions, taskQueue: queue }),
    waitReady: proxyActivities<Activities>({ ...waitReadyOptions, ...here }),
    sync: proxyActivities<Activities>({ ...syncOptions, ...here }),
    release: proxyActivities<Activities>({ ...releaseOptions, ...here }),
    run: (maxMs: number) => proxyActivities<Activities>({ ...runOptions(maxMs), ...here }),
  };
}

export async function leaseWorkflow(input: LeaseInput): Promise<LeaseSummary> {
  // Leases started on this code publish their search attributes only when what `durabox list` and
  // the Web UI show settles (see publishState): each upsert is a visibility write on the server.
  // Histories recorded before replay with an upsert at every step, as they were made. A lease with
  // this patch was started after the earlier ones (claim-worker-locally, sync-check-in-run,
  // reacquire-on-capacity), so it takes their new paths without a marker and an upsert for each.
  const settledState = patched('publish-settled-state');
  const state = new LeaseState(input, Date.now());
  const runScopes = new Map<string, CancellationScope>();
  /** Trees (local root and excludes) this execution has synced to the box. */
  const syncedTrees = new Set<string>();
  /** Why the lease is ending, once it is: a run cut short by expiry reports that, not a cancel. */
  let stopping: EndReason | undefined;
  const providerRef = { provider: input.provider, providerConfig: input.providerConfig };

  /**
   * Run an activity on the lease's worker. When that worker is gone for good (its queue was not
   * polled within WORKER_PICKUP_TIMEOUT), another worker claims the lease, lets its own copy of the
   * lease key in, reaches the box again, and the call is repeated there. Runs reattach by run id,
   * so a command already running on the box is not started again.
   */
  const pickup = input.workerPickupTimeoutMs ?? WORKER_PICKUP_TIMEOUT;
  async function onLeaseWorker<T>(call: (acts: ReturnType<typeof onWorker>) => Promise<T>): Promise<T> {
    for (let moves = 0; ; moves++) {
      try {
        return await call(onWorker(state.workerQueue!, pickup));
      } catch (err) {
        if (!isWorkerGone(err) || !state.box || moves >= MAX_WORKER_MOVES) throw err;
        await moveToLiveWorker();
      }
    }
  }

  /** Claim a worker that polls the shared queue and let it take the box over (it may be gone too). */
  async function moveToLiveWorker(): Promise<void> {
    for (let tries = 0; ; tries++) {
      const previous = state.workerQueue;
      state.workerQueue = await claimWorker(settledState);
      log.warn('lease worker gone; moving the lease', { from: previous, to: state.workerQueue });
      try {
        state.target = await onWorker(state.workerQueue, pickup).waitReady.adoptBox.executeWithOptions(
          { summary: `take over ${state.box!.resourceId} from ${previous}` },
          [{ ...providerRef, box: state.box!, pinnedHostKeys: state.target?.hostKeys }],
        );
        // A lease still acquiring lists as "creating" until it is ready.
        if (!settledState || !state.acquiring) publishState();
        return;
      } catch (err) {
        if (!isWorkerGone(err) || tries >= MAX_WORKER_MOVES) throw err;
      }
    }
  }

  /** Runs sent with the start (update-with-start) that wait for the box: one will run at once. */
  let runsWaitingForBox = 0;
  /** The state and expiry last upserted by this execution. */
  let published: { phase: string; expiresAt: number } | undefined;
  const publishState = () => {
    const expiresAt = state.ended ? Date.now() : Math.min(state.ttlDeadline, state.idleDeadline, state.budgetDeadline);
    setCurrentDetails(detailsText(state));
    // An ended lease's expiry is "now", which always differs: its phase alone decides.
    if (settledState && published?.phase === state.phase && (state.ended || published.expiresAt === expiresAt)) return;
    upsertSearchAttributes([
      { key: StateKey, value: state.phase },
      { key: ExpiresAtKey, value: new Date(expiresAt) },
    ]);
    published = { phase: state.phase, expiresAt };
  };

  setHandler(statusQuery, () => state.status());
  setHandler(touchSignal, () => state.touch(Date.now()));
  setHandler(releaseSignal, (req) => state.requestRelease(req ?? {}, 'requested'));
  setHandler(cancelRunSignal, ({ runId }) => runScopes.get(runId)?.cancel());
  setHandler(
    runUpdate,
    async (req: RunRequest): Promise<RunResult> => {
      // A run sent with the start (update-with-start) waits for the box instead of failing.
      runsWaitingForBox++;
      try {
        await condition(() => !state.acquiring);
      } finally {
        runsWaitingForBox--;
      }
      // A lease that is ending refuses runs. `stopping` is set as the main loop ends, before the
      // release waits for the run in progress: without it, a run queued behind that one would
      // start while the box is being released (settled leases only: older histories replay as made).
      const ending = () => state.ended || !!state.releaseRequest || (settledState && stopping !== undefined);
      const refuseIfEnding = () => {
        if (ending()) throw leaseGone(state, settledState ? stopping : undefined);
      };
      refuseIfEnding();
      await condition(() => !state.busy || ending());
      refuseIfEnding();
      if (needsClientSync(req, state.workerQueue)) {
        // The ready state this run was to replace with "running" (see the acquire below).
        if (settledState) publishState();
        throw ApplicationFailure.create({
          type: 'SyncFromClient',
          message: `the lease's worker (${state.workerQueue}) is not on the client's machine; the client syncs the tree itself`,
          nonRetryable: true,
        });
      }
      const runId = currentUpdateInfo()?.id ?? `run-${state.runs.length + 1}`;
      if (!settledState) {
        const result = await executeRun(req, runId);
        publishState();
        return result;
      }
      try {
        return await executeRun(req, runId);
      } finally {
        // However the run ended (a cancelled or refused one too), the lease is ready again, unless
        // it is ending: then the release publishes "releasing" in this same workflow task.
        if (!state.releaseRequest && !stopping) publishState();
      }
    },
    {
      validator: (req: RunRequest) => {
        if (!req || !Array.isArray(req.argv) || req.argv.length === 0 || req.argv.some((a) => typeof a !== 'string')) {
          throw ApplicationFailure.create({ type: 'InvalidRun', message: 'run needs a non-empty argv of strings', nonRetryable: true });
        }
        if (state.ended || state.releaseRequest) throw leaseGone(state);
      },
    },
  );

  // A client on another machine than this lease's worker syncs and follows output over SSH itself,
  // with its own key: the worker lets that key in. Only the public key enters history.
  setHandler(
    clientAccessUpdate,
    async ({ publicKey }) => {
      await condition(() => !state.acquiring);
      if (state.ended || state.releaseRequest || !state.box || !state.target) throw leaseGone(state);
      state.touch(Date.now());
      const { authorized } = await onLeaseWorker((acts) =>
        acts.waitReady.authorizeClient.executeWithOptions({ summary: 'let a client key in' }, [{ ...providerRef, box: state.box!, publicKey, target: state.target }]),
      );
      return { target: state.target!, authorized, repoName: input.repoName };
    },
    {
      validator: (req) => {
        if (!req || typeof req.publicKey !== 'string' || !CLIENT_PUBLIC_KEY.test(req.publicKey)) {
          throw ApplicationFailure.create({ type: 'InvalidRun', message: 'client access needs a bare "ssh-ed25519 <base64>" public key', nonRetryable: true });
        }
        if (state.ended || state.releaseRequest) throw leaseGone(state);
      },
    },
  );

  async function executeRun(req: RunRequest, runId: string): Promise<RunResult> {
    const record = state.beginRun(runId, req.argv, Date.now());
    publishState();
    const started = Date.now();
    const scope = new CancellationScope();
    runScopes.set(runId, scope);
    try {
      return await scope.run(async () => {
        let syncMs = 0;
        if (req.clientSync) {
          const c = req.clientSync;
          syncMs = c.ms;
          record.sync = { files: c.files, bytes: c.bytes, deleted: c.deleted, skipped: c.skipped };
        }
        const tree = !req.clientSync && !req.noSync && req.localRoot ? { localRoot: req.localRoot, repoName: input.repoName, excludes: req.excludes } : undefined;
        const sync = async () => {
          const s = await onLeaseWorker((acts) =>
            acts.sync.syncWorkdir.executeWithOptions({ summary: `sync ${tree!.localRoot}` }, [{ leaseId: input.leaseId, target: state.target!, ...tree! }]),
          );
          syncMs = s.ms;
          record.sync = { files: s.files, bytes: s.bytes, deleted: s.deleted, skipped: s.skipped };
          syncedTrees.add(treeKey(tree!));
        };
        // A tree this lease synced before is checked in the run's own session (one ssh login
        // instead of two on a warm rerun); only if it changed does the sync step run first.
        const checkInRun = tree !== undefined && syncedTrees.has(treeKey(tree)) && (settledState || patched('sync-check-in-run'));
        if (tree && !checkInRun) await sync();
        const maxRunMs = Math.max(Math.min(state.ttlDeadline, state.budgetDeadline) - Date.now(), 60_000);
        const run = (syncCheck: typeof tree) =>
          onLeaseWorker((acts) => acts.run(maxRunMs).runCommand.executeWithOptions(
            { summary: describeRun(req.argv) },
            [{
              leaseId: input.leaseId,
              runId,
              target: state.target!,
              workdir: `${state.target!.workRoot}/${input.leaseId}/${input.repoName}`,
              argv: req.argv,
              env: { ...req.env, DURABOX_LEASE_ID: input.leaseId, DURABOX_RUN_ID: runId },
              timeoutMs: req.timeoutMs,
              freshLogin: req.freshLogin,
              syncCheck,
            }],
          ));
        let r;
        try {
          r = await run(checkInRun ? tree : undefined);
        } catch (err) {
          if (!checkInRun || failureType(err) !== 'SyncStale') throw err;
          await sync();
          r = await run(undefined);
        }
        if (r.sync) {
          syncMs = r.sync.ms;
          record.sync = { files: r.sync.files, bytes: r.sync.bytes, deleted: 0, skipped: true };
        }
        const timings = { syncMs, runMs: r.runMs, totalMs: Date.now() - started };
        state.endRun(record, { status: r.status, exitCode: r.exitCode, tail: r.tail, timings }, Date.now());
        return { ...record, exitCode: r.exitCode, workerQueue: state.workerQueue };
      });
    } catch (err) {
      const cancelled = isCancellation(err);
      state.endRun(record, { status: cancelled ? 'cancelled' : 'lost', error: failureMessage(err) }, Date.now());
      // Bad input (a missing local tree, an invalid path) fails only this run; anything else means
      // the box is unreachable or gone after retries, and the lease follows its release policy.
      const badInput = ['Provider.invalid', 'Config', 'InvalidRun'].includes(failureType(err) ?? '');
      if (!cancelled && !badInput) state.requestRelease({ reason: 'box lost' }, 'box-lost');
      const expired = cancelled && (stopping === 'ttl' || stopping === 'idle' || stopping === 'budget');
      throw ApplicationFailure.create({
        // Bad input is the caller's to fix (exit 2), not a lost box (exit 7).
        type: expired ? 'LeaseExpired' : cancelled ? 'RunCancelled' : badInput ? 'InvalidRun' : 'RunLost',
        message: expired
          ? `run ${runId} was stopped: the lease reached its ${stopping === 'ttl' ? 'maximum lifetime' : stopping === 'budget' ? `budget of $${input.maxCost}` : 'idle timeout'}`
          : cancelled
            ? `run ${runId} was cancelled`
            : `run ${runId} failed: ${failureMessage(err)}`,
        nonRetryable: true,
      });
    } finally {
      runScopes.delete(runId);
      if (input.releaseAfterRun) state.requestRelease({ reason: 'run finished' }, 'after-run');
    }
  }

  /**
   * A box that will not start (the provider says `capacity`: a marketplace instance that exited,
   * say) is released with the lease's own action; when that destroyed it, the lease tries another
   * box, up to `acquireAttempts`. Under a stop or keep policy the lease rolls back as before.
   */
  async function replacedBoxThatWillNotStart(err: unknown, attempt: number): Promise<boolean> {
    if (failureType(err) !== 'Provider.capacity' || attempt >= (input.acquireAttempts ?? 1)) return false;
    // Only a lease whose action destroys boxes may rent another; stop/keep roll back as usual.
    if (state.releaseAction !== 'delete' || !(settledState || patched('reacquire-on-capacity'))) return false;
    const box = state.box!;
    const released = await CancellationScope.nonCancellable(() =>
      onLeaseWorker((a) =>
        a.release.releaseBox.executeWithOptions({ summary: `release ${box.resourceId} (${state.releaseAction}): it will not start` }, [
          { ...providerRef, leaseId: input.leaseId, slug: input.slug, box, action: state.releaseAction },
        ]),
      ),
    );
    log.warn('box will not start; released it', { box: box.resourceId, action: released.action, attempt });
    if (released.action !== 'delete') return false;
    state.replaceBox();
    // Back to "creating", which it still lists as unless a budget was published.
    if (!settledState || published) publishState();
    return true;
  }

  let endReason: EndReason = 'failed';
  let failure: unknown;
  // Decided inside the try, done outside it: continueAsNew throws, and that must not look like a
  // failure that releases the box.
  let continuing = false;
  try {
    if (!state.workerQueue) {
      state.workerQueue = await claimWorker(settledState);
    }
    const acts = onWorker(state.workerQueue);
    for (let attempt = 1; ; attempt++) {
      if (state.phase === 'creating') {
        const created = await acts.create.createBox.executeWithOptions(
          { summary: `create ${input.provider} box for ${input.slug}${attempt > 1 ? ` (attempt ${attempt})` : ''}` },
          [{ ...providerRef, leaseId: input.leaseId, slug: input.slug }],
        );
        state.created(created.box, created.defaultReleaseAction, Date.now());
        // A priced box: `durabox list` reads the rate from the memo to show the accrued cost.
        if (state.box?.costPerHour) {
          upsertMemo({ costPerHour: state.box.costPerHour, boxCreatedAt: new Date(state.boxCreatedAt!).toISOString(), maxCost: input.maxCost });
        }
        // Created but not ready still lists as "creating"; a budget moves the expiry, though.
        if (!settledState || state.budgetDeadline !== Infinity) publishState();
      }
      if (state.phase !== 'starting') break;
      try {
        const target = state.resuming
          ? // The box this lease stopped earlier: start it again, with the host key it pinned then.
            await onLeaseWorker((a) =>
              a.waitReady.resumeBox.executeWithOptions({ summary: `resume ${state.box!.resourceId}` }, [
                { ...providerRef, box: state.box!, pinnedHostKeys: state.target?.hostKeys },
              ]),
            )
          : await onLeaseWorker((a) =>
              a.waitReady.waitBoxReady.executeWithOptions({ summary: `wait until ${state.box!.resourceId} accepts SSH` }, [{ ...providerRef, box: state.box! }]),
            );
        state.ready(target, Date.now());
        // A run that waited for the box starts in this same workflow task and publishes
        // "running"; a "ready" upsert just before it would be a visibility write nobody sees.
        if (!settledState || runsWaitingForBox === 0) publishState();
        break;
      } catch (err) {
        if (!(await replacedBoxThatWillNotStart(err, attempt))) throw err;
      }
    }
    for (;;) {
      const due = state.due(Date.now(), workflowInfo().continueAsNewSuggested);
      if (due === 'continue-as-new') {
        await condition(allHandlersFinished);
        if (!state.busy && !state.releaseRequest) {
          continuing = true;
          break;
        }
        continue;
      }
      if (due) {
        endReason = due;
        break;
      }
      const seen = state.version;
      await condition(() => state.version !== seen, Math.max(state.nextWake() - Date.now(), 1));
    }
  } catch (err) {
    failure = err;
    endReason = isCancellation(err) ? 'cancelled' : 'failed';
    if (!isCancellation(err)) state.fail(failureMessage(err));
    log.warn('lease ending early', { reason: endReason, type: failureType(err) });
  }

  if (continuing) {
    return await continueAsNew<typeof leaseWorkflow>({ ...input, carried: state.carry() });
  }

  // Stop whatever still runs on the box before releasing it.
  stopping = endReason;
  for (const scope of runScopes.values()) scope.cancel();
  await CancellationScope.nonCancellable(async () => {
    await condition(() => !state.busy);
    await releaseLease(state, endReason, providerRef, onLeaseWorker, settledState ? publishState : undefined);
    if (state.box?.costPerHour && state.released) upsertMemo({ releasedAt: state.released.at });
    publishState();
    await condition(allHandlersFinished);
  });
  if (failure) throw failure;
  return state.status();
}

async function releaseLease(
  state: LeaseState,
  reason: EndReason,
  providerRef: { provider: string; providerConfig: Record<string, unknown> },
  onLeaseWorker: <T>(call: (acts: ReturnType<typeof onWorker>) => Promise<T>) => Promise<T>,
  /** Publishes "releasing" (leases with settled state; older ones showed their last phase). */
  publishReleasing?: () => void,
): Promise<void> {
  state.startReleasing();
  const requested = state.releaseRequest?.action;
  // An explicit user choice wins; every automatic path (rollback, expiry, after-run) uses the
  // lease's own action, and before the provider default is known the activity applies it.
  const action: ReleaseAction | undefined = requested ?? (state.releaseActionKnown ? state.releaseAction : undefined);
  if (!state.workerQueue) {
    state.finishRelease(action ?? 'keep', reason, Date.now(), 'nothing was created');
    return;
  }
  publishReleasing?.();
  const result = await onLeaseWorker((acts) =>
    acts.release.releaseBox.executeWithOptions({ summary: `release (${action ?? 'provider default'}) after ${reason}` }, [
      { ...providerRef, leaseId: state.input.leaseId, slug: state.input.slug, box: state.box, action },
    ]),
  );
  state.finishRelease(result.action, reason, Date.now(), result.note);
}

/** A tree to sync from a client machine whose disk the lease's worker does not share. */
function needsClientSync(req: RunRequest, workerQueue: string | undefined): boolean {
  if (req.noSync || !req.localRoot || req.clientSync || !req.origin) return false;
  const id = req.origin.workerId;
  return !id || !workerQueue || !workerQueue.endsWith(`@${id}`);
}

/** The activity sat unclaimed on the lease worker's own queue: that worker is gone. */
function isWorkerGone(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

function leaseGone(state: LeaseState, stopping?: EndReason): ApplicationFailure {
  // Between the decision to end and the release, the phase still reads as before.
  const phase = stopping && !state.ended ? `ending (${stopping})` : state.phase;
  return ApplicationFailure.create({
    type: state.acquiring ? 'LeaseNotReady' : 'LeaseReleased',
    message: `lease ${state.input.leaseId} is ${phase}${state.error ? `: ${state.error}` : ''}`,
    nonRetryable: true,
  });
}

function detailsText(state: LeaseState): string {
  const s = state.status();
  const last = s.runs[s.runs.length - 1];
  return [
    `**${s.slug}** (${s.leaseId}) on \`${s.provider}\`: ${s.phase}`,
    s.box ? `box: ${s.box.resourceId}` : '',
    s.target ? `ssh: ${s.target.user}@${s.target.host}:${s.target.port}` : '',
    `release: ${s.releaseAction}; expires ${s.ttlDeadline}`,
    last ? `last run: ${describeRun(last.argv)} → ${last.status}${last.exitCode !== undefined ? ` (exit ${last.exitCode})` : ''}` : '',
  ]
    .filter(Boolean)
    // Rendered as Markdown by the Web UI: one paragraph per fact.
    .join('\n\n');
}

function treeKey(tree: { localRoot: string; excludes?: string[] }): string {
  return JSON.stringify([tree.localRoot, tree.excludes ?? []]);
}
