/**
 * What the server itself records about a lease in its search attributes: the facts `durabox list`
 * shows, and `durabox status` when no worker answers for the lease.
 */
import type { TypedSearchAttributes } from '@temporalio/common';
import { ExpiresAtKey, LeaseIdKey, ProviderKey, RepoKey, SlugKey, StateKey } from '../workflows/search-attributes.js';

export interface LeaseFacts {
  leaseId?: string;
  slug?: string;
  provider?: string;
  /** The state the lease last published. */
  state?: string;
  expiresAt?: string;
  repo?: string;
}

export function leaseFacts(sa: TypedSearchAttributes): LeaseFacts {
  return {
    leaseId: sa.get(LeaseIdKey),
    slug: sa.get(SlugKey),
    provider: sa.get(ProviderKey),
    state: sa.get(StateKey),
    expiresAt: sa.get(ExpiresAtKey)?.toISOString(),
    repo: sa.get(RepoKey),
  };
}
