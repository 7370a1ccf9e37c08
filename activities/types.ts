/**
 * Activity inputs and results. They are recorded in workflow history, so they hold names, ids,
 * paths and public keys only; credentials are read by the worker inside the activity.
 */
import type { BoxIdentity, ReleaseAction, ReleaseResult, SshTarget } from '../providers/adapter.js';
import type { SyncResult as TreeSyncResult } from '../providers/common/sync.js';

export interface ProviderRef {
  provider: string;
  providerConfig: Record<string, unknown>;
}

export interface CreateBoxInput extends ProviderRef {
  leaseId: string;
  slug: string;
}

export interface CreateBoxResult {
  box: BoxIdentity;
  /** The provider's documented default, recorded so rollback never needs to guess. */
  defaultReleaseAction: ReleaseAction;
  /** True when an existing box carrying this lease's marker was adopted (a retried create). */
  adopted: boolean;
}

export interface BoxInput extends ProviderRef {
  box: BoxIdentity;
}

export interface AuthorizeClientInput extends BoxInput {
  /** A client's `ssh-ed25519 <base64>` public key (public; the private half never leaves the client). */
  publicKey: string;
  /** How this worker reaches the box, for boxes whose provider has no `authorize` of its own. */
  target?: SshTarget;
}

export interface ReleaseBoxInput extends ProviderRef {
  leaseId: string;
  slug: string;
  /** Absent when create never returned: the activity finds the box by its marker. */
  box?: BoxIdentity;
  /** Absent means the provider's default. */
  action?: ReleaseAction;
}

export interface ReleaseBoxResult extends ReleaseResult {
  /** How many boxes were released (0 when none existed, >1 never happens: it fails closed). */
  count: number;
}

export interface SyncInput {
  leaseId: string;
  target: SshTarget;
  localRoot: string;
  repoName: string;
  excludes?: string[];
}

/** What the sync step reports: the provider-neutral result plus how long it took. */
export type SyncResult = Omit<TreeSyncResult, 'fingerprint'> & { ms: number };

export interface RunCommandInput {
  leaseId: string;
  runId: string;
  target: SshTarget;
  workdir: string;
  argv: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Log in the full way even if the box has the lease's login environment cached. */
  freshLogin?: boolean;
  /**
   * The tree the last sync shipped: start only if the box still holds exactly what this local tree
   * would ship (the fingerprint check done in the run's own session, saving the sync step's login on
   * a warm rerun); otherwise fail with `SyncStale` before starting anything.
   */
  syncCheck?: { localRoot: string; repoName: string; excludes?: string[] };
}

export interface RunCommandResult {
  exitCode: number;
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed-out';
  /** Bounded tail of the output; the whole of it stays in the run's log files. */
  tail: string;
  runMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** True when this attempt reattached to a command an earlier attempt had started. */
  reattached: boolean;
  /** With `syncCheck`: the tree that was found up to date on the box, and how long checking took. */
  sync?: { files: number; bytes: number; ms: number };
}
