/**
 * Errors that providers throw. Activities translate them to Temporal failures in exactly one place
 * (`activities/failures.ts`); workflows only ever see the failure `type` string.
 */

/**
 * - `transient`: try again with backoff (5xx, network, ssh exit 255).
 * - `ambiguous`: the request went out and may have succeeded; only retry through `findByLease`.
 * - `auth`, `quota`, `invalid`, `capacity`, `conflict`: retrying cannot help.
 * - `gone`: verified absent; success for release, failure for resume.
 * - `ownership`: the live resource is not the one this lease recorded; never mutate it.
 * - `not-ready`: an expected "not yet" while polling.
 */
export type ProviderErrorKind =
  | 'transient'
  | 'ambiguous'
  | 'auth'
  | 'quota'
  | 'invalid'
  | 'capacity'
  | 'conflict'
  | 'gone'
  | 'ownership'
  | 'not-ready';

export const NON_RETRYABLE_KINDS: ReadonlySet<ProviderErrorKind> = new Set([
  'auth',
  'quota',
  'invalid',
  'capacity',
  'conflict',
  'gone',
  'ownership',
]);

export interface ProviderErrorOptions {
  provider: string;
  operation: string;
  leaseId?: string;
  /** HTTP status or process exit code, when there is one. */
  status?: number;
  /** Milliseconds the provider asked us to wait (Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
}

/** Thrown by a provider adapter when a call to its control plane or box fails. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly provider: string;
  readonly operation: string;
  readonly leaseId?: string;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    opts: ProviderErrorOptions,
  ) {
    super(message, { cause: opts.cause });
    this.provider = opts.provider;
    this.operation = opts.operation;
    this.leaseId = opts.leaseId;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof Error && err.name === 'ProviderError' && 'kind' in err;
}

/** Failure `type` strings the workflow branches on. Stable: they are recorded in history. */
export const FailureTypes = {
  provider: (kind: ProviderErrorKind) => `Provider.${kind}`,
  leaseNotReady: 'LeaseNotReady',
  leaseReleased: 'LeaseReleased',
  runLost: 'RunLost',
  config: 'Config',
} as const;
