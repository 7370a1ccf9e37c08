/**
 * The lease workflow's names on the wire: its type, id scheme, message names and search attributes.
 * Kept free of any import so a client that speaks Temporal's HTTP API can address a lease without
 * loading the SDK; `messages.ts` and `search-attributes.ts` build the typed definitions from them.
 *
 * Every name here is recorded in workflow histories and visibility rows: treat them as permanent.
 */
export const TASK_QUEUE_DEFAULT = 'durabox';
export const LEASE_WORKFLOW_TYPE = 'leaseWorkflow';

export const leaseWorkflowId = (leaseId: string) => `lease-${leaseId}`;

export const MESSAGE_NAMES = {
  runUpdate: 'run',
  clientAccessUpdate: 'client-access',
  releaseSignal: 'release',
  touchSignal: 'touch',
  statusQuery: 'status',
  cancelRunSignal: 'cancel-run',
} as const;

/** durabox's search attributes (see search-attributes.ts): name → CLI type name, as `temporal server start-dev --search-attribute Name=Type` wants it. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, 'Keyword' | 'Datetime'>> = {
  DuraboxLeaseId: 'Keyword',
  DuraboxProvider: 'Keyword',
  DuraboxSlug: 'Keyword',
  DuraboxState: 'Keyword',
  DuraboxRepo: 'Keyword',
  DuraboxOwner: 'Keyword',
  DuraboxExpiresAt: 'Datetime',
};
