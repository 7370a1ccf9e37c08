/**
 * One named option set per activity family. Timeouts are the only thing standing between a dead
 * worker and a stuck lease, so every long activity heartbeats and has a short heartbeat timeout: a
 * SIGKILLed worker's attempt is retried on a fresh worker within seconds, not hours.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** Failure types no retry can fix (see providers/errors.ts `NON_RETRYABLE_KINDS`). */
const NON_RETRYABLE = [
  'Provider.auth',
  'Provider.quota',
  'Provider.invalid',
  'Provider.capacity',
  'Provider.conflict',
  'Provider.gone',
  'Provider.ownership',
  'Config',
  'RunLost',
];

/**
 * Activities on a worker's own queue wait at most this long to be picked up. Past it the worker is
 * taken to be gone for good: the lease moves to another worker (see `failover` in lease.ts). A
 * worker that merely restarts is back well within it.
 */
export const WORKER_PICKUP_TIMEOUT = '30s';

/** Runs on the shared queue; answers which worker will hold the lease's key. */
export const claimOptions: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5 },
};

/**
 * The same question as a local activity: answered by the worker running the workflow task, which
 * is alive by definition, with no task of its own to dispatch (one activity and one workflow
 * task less per lease).
 */
export const claimLocalOptions: LocalActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5 },
};

/** Create looks the box up by its marker first, so a retry after a crash adopts instead of duplicating. */
export const createOptions: ActivityOptions = {
  startToCloseTimeout: '15m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8, nonRetryableErrorTypes: NON_RETRYABLE },
};

export const waitReadyOptions: ActivityOptions = {
  startToCloseTimeout: '25m',
  scheduleToStartTimeout: WORKER_PICKUP_TIMEOUT,
  heartbeatTimeout: '15s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6, nonRetryableErrorTypes: NON_RETRYABLE },
};

export const syncOptions: ActivityOptions = {
  startToCloseTimeout: '30m',
  scheduleToStartTimeout: WORKER_PICKUP_TIMEOUT,
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * A user command is not idempotent, but the run activity reattaches to the detached remote process
 * by run id instead of starting it again, so retrying the activity is safe. Cancellation waits for
 * the remote process group to be killed before the workflow moves on to release.
 */
export function runOptions(maxRunMs: number): ActivityOptions {
  return {
    startToCloseTimeout: Math.max(maxRunMs, 60_000),
    scheduleToStartTimeout: WORKER_PICKUP_TIMEOUT,
    heartbeatTimeout: '15s',
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

/** Release is the compensation: it must eventually happen, so it retries for a long time. */
export const releaseOptions: ActivityOptions = {
  startToCloseTimeout: '10m',
  scheduleToStartTimeout: WORKER_PICKUP_TIMEOUT,
  heartbeatTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 30, nonRetryableErrorTypes: ['Provider.ownership', 'Provider.invalid', 'Provider.auth', 'Config'] },
};

/** Cleanup sweep: read-only inventory and lease lookups; a failing provider is reported, not retried for long. */
export const sweepListOptions: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/**
 * Cleanup releases and lookups on a lease's own worker queue. A worker that is gone never picks the
 * task up: give up after a minute and report it, the next sweep tries again.
 */
export const sweepReleaseOptions: ActivityOptions = {
  ...releaseOptions,
  scheduleToStartTimeout: '1m',
  retry: { ...releaseOptions.retry, maximumAttempts: 5 },
};
