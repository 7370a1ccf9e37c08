/**
 * Live output of one run, wherever the lease's worker is. The CLI always prints from this machine's
 * `<state>/runs/<runId>/` files (followRunOutput). When this machine's worker holds the lease, that
 * worker writes them; otherwise a remote follower copies them from the box over SSH. Which of the
 * two is decided from the lease's status once a worker has claimed it and the box is up.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { statusQuery } from '../workflows/messages.js';
import { followRemoteRun, type BoxAccess, type RemoteFollower } from './client-data-plane.js';
import type { LeaseHandle } from './lease-client.js';
import { followRunOutput, type Follower } from './run-output.js';
import { isThisMachinesWorker } from './worker-identity.js';

const POLL_MS = 300;

export function followLeaseOutput(handle: Promise<LeaseHandle>, leaseId: string, runId: string, access: () => Promise<BoxAccess>): Follower {
  const printer = followRunOutput(runId);
  let remote: RemoteFollower | undefined;
  let finishing = false;
  const decided = (async () => {
    const h = await handle;
    for (let misses = 0; ; ) {
      const s = await h.query(statusQuery).catch(() => undefined);
      if (s?.workerQueue && s.target) {
        if (!isThisMachinesWorker(s.workerQueue)) remote = followRemoteRun(access, leaseId, runId);
        return;
      }
      // A lease that ended before it had a box has no output to follow.
      if (s && (s.phase === 'released' || s.phase === 'failed') && !s.target) return;
      if (!s && finishing && ++misses > 20) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })().catch(() => undefined);

  return {
    async finish() {
      finishing = true;
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
  const cause = err instanceof WorkflowUpdateFailedError ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === 'SyncFromClient';
}
