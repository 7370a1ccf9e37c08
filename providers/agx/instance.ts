/**
 * Instance names. The name *is* the sandbox's identity at AGX (the gateway provisions on first
 * connect and there is nothing else to look up), so it derives from the lease id: the same lease
 * always reconnects to the same sandbox, and two leases never share one.
 *
 *   <prefix>-<slug, sanitized, ≤20>-<first 8 hex of sha256(leaseId)>
 *
 * Lowercase `[a-z0-9-]` only and at most 38 characters, because AGX's naming rules are unpublished.
 */
import { createHash } from 'node:crypto';

const SLUG_MAX = 20;

export function leaseHash8(leaseId: string): string {
  return createHash('sha256').update(leaseId).digest('hex').slice(0, 8);
}

export function sanitizeSlug(slug: string): string {
  return slug
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, SLUG_MAX)
    .replace(/-+$/, '');
}

export function instanceName(prefix: string, leaseId: string, slug: string): string {
  const s = sanitizeSlug(slug);
  return s ? `${prefix}-${s}-${leaseHash8(leaseId)}` : `${prefix}-${leaseHash8(leaseId)}`;
}

/**
 * True when `name` has our shape and carries this lease's hash. Any valid prefix is accepted, so a
 * later change of `instancePrefix` does not orphan running leases; the hash is what ties a name to a lease.
 */
export function instanceBelongsTo(name: string, leaseId: string): boolean {
  const re = new RegExp(`^[a-z][a-z0-9]{0,7}(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?-${leaseHash8(leaseId)}$`);
  return name.length <= 8 + SLUG_MAX + 10 && re.test(name);
}
