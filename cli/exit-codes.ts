/**
 * durabox's own exit codes. A run exits with the remote command's code verbatim; these are for
 * durabox's failures, and `--json` output says which of the two an exit code came from.
 * Mirrored in README.md.
 */
export const ExitCode = {
  ok: 0,
  /** Unexpected internal error. */
  internal: 1,
  /** Bad flags or config: nothing was created. Also a run refused as bad input (the lease stays). */
  config: 2,
  /** No lease with that id or slug. */
  notFound: 3,
  /** The provider failed to create or ready the box (the lease released it per its policy). */
  provider: 4,
  /** The lease or the run hit a time limit (lease expiry; a per-run `--timeout` exits 124). */
  timeout: 5,
  /** The box became unreachable during a run (SSH transport). */
  transport: 7,
  /** The Temporal server could not be reached or started. */
  temporal: 8,
  /** No worker answered for the lease (none polls its task queue, or none could answer in time). */
  worker: 9,
  /** Interrupted with Ctrl-C. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
