/**
 * The activities a durabox worker registers. `createActivities` takes the worker's own facts (its
 * per-worker task queue) so nothing here reaches for globals; the workflow proxies the result type.
 */
import { createBox, releaseBox, resumeBox, waitBoxReady } from './lease.js';
import { runCommand, syncWorkdir } from './run.js';

export interface ActivityDeps {
  /** The task queue only this worker polls: activities that need the lease's key go there. */
  workerQueue: string;
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
    syncWorkdir,
    runCommand,
    releaseBox,
  };
}
