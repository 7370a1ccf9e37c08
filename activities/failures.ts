/**
 * The one place where provider errors become Temporal failures. The failure `type` is what the
 * workflow and the retry policy look at; details carry only non-secret facts.
 */
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { FailureTypes, NON_RETRYABLE_KINDS, isProviderError } from '../providers/errors.js';

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (!isProviderError(err)) return err;
  return ApplicationFailure.create({
    type: FailureTypes.provider(err.kind),
    message: `${err.provider} ${err.operation}: ${err.message}`,
    nonRetryable: NON_RETRYABLE_KINDS.has(err.kind),
    nextRetryDelay: err.retryAfterMs,
    category: err.kind === 'not-ready' ? ApplicationFailureCategory.BENIGN : undefined,
    details: [{ provider: err.provider, operation: err.operation, kind: err.kind, status: err.status }],
  });
}

/** Run an activity body and translate whatever it throws. */
export async function translated<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}
