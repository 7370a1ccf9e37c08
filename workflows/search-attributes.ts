/**
 * durabox's search attributes. SQL visibility (SQLite in the dev server, PostgreSQL in the fleet)
 * allows at most 10 Keyword and 3 of each other type per namespace, so keep this list short.
 * `durabox server start`, the test setup and the compose setup step all register exactly these.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const LeaseIdKey = defineSearchAttributeKey('DuraboxLeaseId', SearchAttributeType.KEYWORD);
export const ProviderKey = defineSearchAttributeKey('DuraboxProvider', SearchAttributeType.KEYWORD);
export const SlugKey = defineSearchAttributeKey('DuraboxSlug', SearchAttributeType.KEYWORD);
export const StateKey = defineSearchAttributeKey('DuraboxState', SearchAttributeType.KEYWORD);
export const RepoKey = defineSearchAttributeKey('DuraboxRepo', SearchAttributeType.KEYWORD);
export const OwnerKey = defineSearchAttributeKey('DuraboxOwner', SearchAttributeType.KEYWORD);
export const ExpiresAtKey = defineSearchAttributeKey('DuraboxExpiresAt', SearchAttributeType.DATETIME);

export { SEARCH_ATTRIBUTES } from './lease-names.js';
