/**
 * The ownership marker on a Coder workspace is its name: Coder has no workspace labels
 * (providers.md 2.3). A name is a discovery hint, never proof on its own: ownership also needs the
 * recorded workspace id, owner id and deployment scope.
 *
 *   <prefix>-<slug>-<12 hex>      e.g. dbx-brave-otter-0123456789ab
 *
 * The 12 hex are the lease id's own digits (`dbx_<12 hex>`), so a listing maps a workspace back to
 * its lease without any local record; a lease id of another shape uses 12 hex of its SHA-256 and
 * is then found only through its record. The slug is shortened first; the whole name keeps Coder's
 * rules: lowercase letters, digits and single dashes, at most 32 characters, not a reserved word.
 */
import { createHash } from 'node:crypto';

export const MAX_NAME = 32;
const RESERVED = new Set(['new', 'create']);
const CODER_NAME = /^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$/;
const LEASE_ID = /^dbx_([0-9a-f]{12})$/;

/** Coder's own rule for workspace names. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME) return `must be 1-${MAX_NAME} characters`;
  if (!CODER_NAME.test(name)) return 'may hold only letters, digits and single dashes between them';
  if (name !== name.toLowerCase()) return 'must be lowercase';
  if (RESERVED.has(name)) return 'is reserved';
  return undefined;
}

/** The 12 hex that tie a name to a lease. */
export function leaseTag(leaseId: string): string {
  const m = LEASE_ID.exec(leaseId);
  return m ? m[1]! : createHash('sha256').update(leaseId).digest('hex').slice(0, 12);
}

export function workspaceName(prefix: string, leaseId: string, slug: string): string {
  const tag = leaseTag(leaseId);
  const room = MAX_NAME - prefix.length - tag.length - 2;
  const s = slug
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, Math.max(0, room - 1))
    .replace(/^-+|-+$/g, '');
  const name = s && room > 1 ? `${prefix}-${s}-${tag}` : `${prefix}-${tag}`;
  const p = nameProblem(name);
  if (p) throw new Error(`derived workspace name ${JSON.stringify(name)} ${p}`);
  return name;
}

/** The lease id a name of ours carries (`dbx_<hex>`), undefined for anything else. */
export function leaseIdFromName(prefix: string, name: string): string | undefined {
  const m = new RegExp(`^${prefix}(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?-([0-9a-f]{12})$`).exec(name);
  return m ? `dbx_${m[1]}` : undefined;
}

/** True when `name` is the name this lease derives (with any slug), i.e. carries its marker. */
export function nameNamesLease(prefix: string, name: string, leaseId: string): boolean {
  if (nameProblem(name)) return false;
  const tag = leaseTag(leaseId);
  return new RegExp(`^${prefix}(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?-${tag}$`).test(name);
}
