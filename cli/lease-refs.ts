/**
 * How a user's lease reference becomes a workflow: an id is one already, a slug is looked up with a
 * visibility query. Free of the SDK, for both the gRPC and the HTTP client.
 */
import { LEASE_WORKFLOW_TYPE, leaseWorkflowId } from '../workflows/lease-names.js';
import { LEASE_ID } from './lease-ids.js';

/** The workflow id of a reference that is an id already (`dbx_…` or `lease-dbx_…`); undefined for a slug. */
export function workflowIdOfRef(ref: string): string | undefined {
  if (LEASE_ID.test(ref)) return leaseWorkflowId(ref);
  if (/^lease-dbx_[0-9a-f]{12}$/.test(ref)) return ref;
  return undefined;
}

/** Quote a value for a visibility query. */
export const quoteValue = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Every lease, any status (visibility lists running ones first, then the newest). */
export const leasesQuery = `WorkflowType = ${quoteValue(LEASE_WORKFLOW_TYPE)}`;

/** Every lease (any status) with this slug. */
export const slugQuery = (slug: string) => `${leasesQuery} AND DuraboxSlug = ${quoteValue(slug)}`;
