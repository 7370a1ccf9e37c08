/** Lease ids (`dbx_` + 12 hex), run ids, and human slugs (adjective-noun). */
import { randomBytes, randomInt } from 'node:crypto';
import { ConfigError } from './errors.js';

export const LEASE_ID = /^dbx_[0-9a-f]{12}$/;
export const SLUG = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

export const newLeaseId = () => `dbx_${randomBytes(6).toString('hex')}`;
export const newRunId = () => `run_${randomBytes(6).toString('hex')}`;

const ADJECTIVES = [
  'amber', 'brave', 'calm', 'dapper', 'eager', 'fuzzy', 'gentle', 'hardy', 'icy', 'jolly',
  'keen', 'lucky', 'mellow', 'nimble', 'olive', 'proud', 'quick', 'rapid', 'sunny', 'tidy',
  'upbeat', 'vivid', 'witty', 'young', 'zesty', 'bold', 'crisp', 'deft', 'fair', 'glad',
];
const NOUNS = [
  'otter', 'falcon', 'badger', 'heron', 'lynx', 'marten', 'osprey', 'puffin', 'quail', 'raven',
  'salmon', 'tapir', 'urchin', 'vole', 'walrus', 'yak', 'zebra', 'bison', 'crane', 'dingo',
  'egret', 'ferret', 'gecko', 'hare', 'ibis', 'jackal', 'koala', 'lemur', 'moose', 'newt',
];

export function randomSlug(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
}

/**
 * A slug nobody running uses: try random ones, then add a numeric suffix. `taken` asks Temporal's
 * visibility, which lags a little; the lease id stays the real identity either way.
 */
export async function uniqueSlug(taken: (slug: string) => Promise<boolean>, wanted?: string): Promise<string> {
  if (wanted) {
    if (await taken(wanted)) throw new Error(`slug ${JSON.stringify(wanted)} is already used by a running lease`);
    return wanted;
  }
  for (let i = 0; i < 5; i++) {
    const s = randomSlug();
    if (!(await taken(s))) return s;
  }
  const base = randomSlug();
  for (let n = 2; ; n++) if (!(await taken(`${base}-${n}`))) return `${base}-${n}`;
}

/** A `--slug` flag's format: checked before anything is started (an embedded server included). */
export function checkSlugFlag(slug: string | undefined): void {
  if (slug !== undefined && !SLUG.test(slug)) {
    throw new ConfigError(`--slug ${JSON.stringify(slug)}: use 3-40 lowercase letters, digits and dashes, starting with a letter`);
  }
}
