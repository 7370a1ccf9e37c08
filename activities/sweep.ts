/**
 * Activities of the cleanup sweep. Listing and lookups never mutate; the sweep releases through the
 * lease verb `releaseBox`, which revalidates ownership and never does more than the action asked.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { BoxIdentity, OwnedResource, ReleaseAction } from '../providers/adapter.js';
import { getProvider } from '../providers/adapters.js';
import type { LeaseFacts } from '../workflows/sweep-decide.js';
import { translated } from './failures.js';
import { leaseFacts } from './lease-records.js';
import type { ProviderRef } from './types.js';

export interface ListOwnedResult {
  /** False when the provider cannot find resources by marker (static hosts, AGX). */
  discover: boolean;
  defaultReleaseAction: ReleaseAction;
  resources: OwnedResource[];
}

/** Everything in the provider's scope that carries durabox's marker (adapter.listOwned). */
export async function listOwnedBoxes(input: ProviderRef): Promise<ListOwnedResult> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    if (!adapter.capabilities.discover) {
      return { discover: false, defaultReleaseAction: adapter.defaultReleaseAction, resources: [] };
    }
    return { discover: true, defaultReleaseAction: adapter.defaultReleaseAction, resources: await adapter.listOwned() };
  });
}

export interface FindLeaseBoxesInput extends ProviderRef {
  leaseId: string;
  slug: string;
}

/** A direct lookup by this lease's marker (adapter.findByLease); run on the lease's own worker. */
export async function findLeaseBoxes(input: FindLeaseBoxesInput): Promise<BoxIdentity[]> {
  return translated(() => getProvider(input.provider, input.providerConfig).findByLease({ leaseId: input.leaseId, slug: input.slug }));
}

export interface LeaseStatesInput {
  leaseIds: string[];
  /** Also report every running lease of this provider (to find leases whose box vanished). */
  runningOf?: string;
}

/** `leaseStatesFor` needs a Temporal client: the worker passes one in `createActivities` deps. */
export function makeLeaseStatesFor(client: Client | (() => Promise<Client>) | undefined) {
  return async function leaseStatesFor(input: LeaseStatesInput): Promise<LeaseFacts[]> {
    if (!client) {
      throw ApplicationFailure.create({
        type: 'Config',
        message: 'this worker was started without a Temporal client, so it cannot look leases up',
        nonRetryable: true,
      });
    }
    const c = typeof client === 'function' ? await client() : client;
    return leaseFacts(c, input.leaseIds, input.runningOf);
  };
}
