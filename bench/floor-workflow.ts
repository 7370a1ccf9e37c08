/**
 * Bench 5's floor: the least a Temporal workflow with a lease's five activity round trips costs on
 * this SDK, server and machine. Five no-op activities in a row and nothing else (no update, no
 * timer, one task queue), or with `upserts`, as many search-attribute upserts as a one-run lease
 * makes, to show what the dev server's visibility writes cost. Bundled by the bench at run time.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { StateKey } from '../workflows/search-attributes.js';

export interface FloorActivities {
  step(n: number): Promise<number>;
}

const { step } = proxyActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });

/** As many steps as a one-run lease has activities (create, wait-ready, sync, run, release). */
export const FLOOR_STEPS = 5;

/**
 * As many upserts as a one-run lease's history holds: the SDK's record of its patch, then
 * "running", "releasing" and "released" (the last one lands with the completion, and the server
 * skips the visibility write of a closed workflow).
 */
export const LEASE_UPSERTS = 4;

export async function floorWorkflow(upserts = 0): Promise<number> {
  let n = 0;
  let published = 0;
  const publish = () => {
    if (published < upserts) upsertSearchAttributes([{ key: StateKey, value: `step-${published++}` }]);
  };
  // One upsert in the first workflow task, the rest after the last steps, the last one with the
  // completion as a lease's "released" (a lease's others follow steps 2 and 4; which task carries
  // an upsert does not change its cost).
  if (upserts > 0) publish();
  for (let i = 0; i < FLOOR_STEPS; i++) {
    n = await step(n);
    if (FLOOR_STEPS - i < upserts) publish();
  }
  return n;
}
