/**
 * Live output of one run, wherever the lease's worker is. The CLI always prints from this machine's
 * `<state>/runs/<runId>/` files (followRunOutput). When this machine's worker holds the lease, that
 * worker writes them; otherwise a remote follower copies them from the box over SSH. Which of the
 * two is decided from the lease's status once a worker has claimed it and the box is up, or from
 * the run's result if that comes first.
 */
import { failureType } from '../workflows/describe.js';
import { followRemoteRun, type BoxAccess, type RemoteFollower } from './client-data-plane.js';
import type { LeaseStatus } from '../workflows/messages.js';
import type { StatusFeed } from './lease-status-feed.js';
import { followRunOutput } from './run-output.js';
import { isThisMachinesWorker } from './worker-identity.js';

export interface LeaseFollower {
  /**
   * Print whatever is left and stop. `ranOn`, the worker queue the run's result names, settles
   * where the output is without waiting for the lease's status.
   */
  finish(ranOn?: string): Promise<void>;
}

export function followLeaseOutput(feed: StatusFeed, leaseId: string, runId: string, access: () => Promise<BoxAccess>): LeaseFollower {
  const printer = followRunOutput(runId);
  let remote: RemoteFollower | undefined;
  let finishing = false;
  let settled = false;
  let resolveDecided!: () => void;
  const decided = new Promise<void>((resolve) => (resolveDecided = resolve));
  const settle = () => {
    settled = true;
    resolveDecided();
  };
  const followFrom = (workerQueue: string) => {
    if (!isThisMachinesWorker(workerQueue)) remote ??= followRemoteRun(access, leaseId, runId);
  };
  let misses = 0;
  const seenEnough = (s: LeaseStatus | undefined, last: boolean): boolean => {
    if (settled || last) return true;
    if (s?.workerQueue && s.target) {
      followFrom(s.workerQueue);
      return true;
    }
    // A lease that ended before it had a box has no output to follow.
    if (s && (s.phase === 'released' || s.phase === 'failed') && !s.target) return true;
    return !s && finishing && ++misses > 20;
  };
  feed.watch((s, last) => {
    let done = true;
    try {
      done = seenEnough(s, last);
    } finally {
      // Also when starting the remote follower threw: finish() must not wait for ever.
      if (done) settle();
    }
    return done;
  });

  return {
    async finish(ranOn?: string) {
      finishing = true;
      if (ranOn && !settled) {
        followFrom(ranOn);
        settle();
      }
      await decided;
      try {
        if (remote) await remote.finish();
      } finally {
        await printer.finish();
      }
    },
  };
}

/** The run was refused because its tree is on this machine and the lease's worker is not. */
export function isSyncFromClient(err: unknown): boolean {
  return failureType(err) === 'SyncFromClient';
}
