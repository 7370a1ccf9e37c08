/** The worker's workflow bundle entry: every workflow function durabox registers. */
export { leaseWorkflow } from './lease.js';
export { orphanSweepWorkflow } from './sweep.js';
