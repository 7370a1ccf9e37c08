/**
 * Name, labels and annotations that mark a Devbox as one lease's (providers.md 1.2, 2.4). Labels are
 * a discovery hint, not proof: ownership also needs the recorded uid and the same scope.
 *
 *   name         durabox-<slug>-<8 hex of sha256(lease id)>   DNS-1035, ≤ 59 chars
 *   labels       app.kubernetes.io/managed-by=durabox, durabox.dev/provider=sealos-devbox,
 *                durabox.dev/lease-id=<id>, durabox.dev/slug=<slug>, durabox.dev/provider-scope=<16 hex>
 *   annotations  durabox.dev/lease-id, durabox.dev/release-action, durabox.dev/state
 */
import { createHash } from 'node:crypto';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const TOOL = 'durabox';
export const L_PROVIDER = 'durabox.dev/provider';
export const L_LEASE = 'durabox.dev/lease-id';
export const L_SLUG = 'durabox.dev/slug';
export const L_SCOPE = 'durabox.dev/provider-scope';
export const A_LEASE = 'durabox.dev/lease-id';
export const A_RELEASE = 'durabox.dev/release-action';
export const A_STATE = 'durabox.dev/state';
export const PROVIDER = 'sealos-devbox';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A slug reduced to a Kubernetes label value (≤ 40 chars here, so names stay short). */
export function slugLabel(slug: string): string {
  const s = slug.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 40).replace(/-+$/, '');
  return s || 'box';
}

/** The Devbox name for a lease: derived from the lease id, never from the slug alone. */
export function devboxName(leaseId: string, slug: string): string {
  const h = createHash('sha256').update(leaseId).digest('hex').slice(0, 8);
  return `durabox-${slugLabel(slug)}-${h}`.slice(0, 59);
}

/** Fingerprint of where boxes live (server, context, namespace, network, gateway). Never the raw text. */
export function scopeHash(scope: string): string {
  return createHash('sha256').update(scope).digest('hex').slice(0, 16);
}

export function leaseLabels(leaseId: string, slug: string, scope: string): Record<string, string> {
  if (!LABEL_VALUE.test(leaseId) || leaseId.length > 63) throw new Error(`lease id ${JSON.stringify(leaseId)} cannot be a label value`);
  return {
    [MANAGED_BY]: TOOL,
    [L_PROVIDER]: PROVIDER,
    [L_LEASE]: leaseId,
    [L_SLUG]: slugLabel(slug),
    [L_SCOPE]: scopeHash(scope),
  };
}

/** Selector for everything durabox made with this provider (optionally one lease's). */
export function selector(leaseId?: string): string {
  const parts = [`${MANAGED_BY}=${TOOL}`, `${L_PROVIDER}=${PROVIDER}`];
  if (leaseId) parts.push(`${L_LEASE}=${leaseId}`);
  return parts.join(',');
}

/** True when the labels name this lease in this scope (and, when given, this slug). */
export function labelsNameLease(labels: Record<string, string> | undefined, leaseId: string, scope: string, slug?: string): boolean {
  if (!labels) return false;
  return (
    labels[MANAGED_BY] === TOOL &&
    labels[L_PROVIDER] === PROVIDER &&
    labels[L_LEASE] === leaseId &&
    labels[L_SCOPE] === scopeHash(scope) &&
    (slug === undefined || labels[L_SLUG] === slugLabel(slug))
  );
}

export const GROUP = 'devbox.sealos.io';
export const VERSION = 'v1alpha2';
export const PLURAL = 'devboxes';

/** Secrets the kubeconfig holds (filled by kube.ts when it loads one), for redaction only. */
const secretsToRedact: Set<string> = new Set();

export function addRedaction(value: string | undefined): void {
  if (value && value.length >= 6) secretsToRedact.add(value);
}

/** Remove bearer values, kubeconfig secrets, PEM blocks and `*-data` fields from a message. */
export function redact(text: string): string {
  let out = text;
  for (const s of secretsToRedact) out = out.split(s).join('[redacted]');
  return out
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[redacted PEM]')
    .replace(/Bearer\s+[^\s"',}]+/gi, 'Bearer [redacted]')
    .replace(/((?:certificate-authority|client-certificate|client-key)-data["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1[redacted]')
    .replace(/((?:token|password)["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1[redacted]');
}

/** The `reason` a failed Kubernetes call carried (AlreadyExists, Conflict, Invalid…), if any. */
export function reasonOf(e: unknown): string | undefined {
  return (e as { reason?: string })?.reason;
}
