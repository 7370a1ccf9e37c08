/**
 * The activities a durabox worker registers. `createActivities` takes the worker's own facts (its
 * per-worker task queue, a Temporal client) so nothing here reaches for globals; the workflow
 * proxies the result type.
 */
import type { Client } from '@temporalio/client';
import { adoptBox, authorizeClient, createBox, releaseBox, resumeBox, waitBoxReady } from './lease.js';
import { runCommand, syncWorkdir } from './run.js';
import { findLeaseBoxes, listOwnedBoxes, makeLeaseStatesFor } from './sweep.js';

export interface ActivityDeps {
  /** The task queue only this worker polls: activities that need the lease's key go there. */
  workerQueue: string;
  /**
   * A client of the cluster this worker serves (or a function making one on first use). Only the
   * cleanup sweep's `leaseStatesFor` needs it; without it that activity fails non-retryably.
   */
  client?: Client | (() => Promise<Client>);
}

export function createActivities(deps: ActivityDeps) {
  return {
    /** Runs on the shared queue; whichever worker picks it up becomes the lease's home. */
    async claimWorkerQueue(): Promise<string> {
      return deps.workerQueue;
    },
    createBox,
    waitBoxReady,
    resumeBox,
    adoptBox,
    authorizeClient,
    syncWorkdir,
    runCommand,
    releaseBox,
    listOwnedBoxes,
    findLeaseBoxes,
    leaseStatesFor: makeLeaseStatesFor(deps.client),
  };
}
