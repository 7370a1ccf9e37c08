/**
 * The ownership marker on a Vast instance: its `label` (free text, ≤1024 chars, editable by the
 * user in the console, so a discovery hint and never proof on its own).
 *
 *   durabox1|<leaseId>|<slug>|<state>      state: provisioning → ready → stopped
 *
 * Each part is reduced to `[A-Za-z0-9._-]` and length-bounded. Only labels that parse with our
 * version tag are candidates; anything else is someone else's instance.
 */
export const LABEL_TAG = 'durabox1';
export const LABEL_STATES = ['provisioning', 'ready', 'stopped'] as const;
export type LabelState = (typeof LABEL_STATES)[number];

const PART = /^[A-Za-z0-9._-]{1,128}$/;

export function sanitizePart(s: string, max = 64): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max) || 'x';
}

export function makeLabel(leaseId: string, slug: string, state: LabelState): string {
  if (!PART.test(leaseId)) throw new Error(`lease id ${JSON.stringify(leaseId)} cannot go into a Vast label`);
  return [LABEL_TAG, leaseId, sanitizePart(slug), state].join('|');
}

export interface ParsedLabel {
  leaseId: string;
  slug: string;
  state: string;
}

/** undefined for anything that is not exactly our four-part format. */
export function parseLabel(label: string | null | undefined): ParsedLabel | undefined {
  if (typeof label !== 'string' || label.length > 1024) return undefined;
  const parts = label.split('|');
  if (parts.length !== 4 || parts[0] !== LABEL_TAG) return undefined;
  const [, leaseId, slug, state] = parts as [string, string, string, string];
  if (!PART.test(leaseId) || !PART.test(slug) || !PART.test(state)) return undefined;
  return { leaseId, slug, state };
}

export function labelNames(label: string | null | undefined, leaseId: string): boolean {
  return parseLabel(label)?.leaseId === leaseId;
}
