/**
 * Settings of the `vast` provider: GPU instances rented from the Vast.ai marketplace
 * (providers.md 2.1). Validated by zod when the adapter is built; every message is one line.
 *
 * The API key is not a setting: it comes from `VAST_API_KEY` (or `DURABOX_VAST_API_KEY`) in the
 * worker's environment, read at each call (api.ts).
 */
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';
import { refineWith } from '../common/refine.js';
import { workRootProblem as checkWorkRoot } from '../common/work-root.js';

export const VAST_DEFAULT_API_URL = 'https://console.vast.ai';
export const VAST_DEFAULT_IMAGE = 'nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Why `value` is not an acceptable API base URL, or undefined. https only (plain http only to a
 * loopback address, for tests), no credentials, query or fragment: the key is sent as a Bearer
 * header to this origin, so nothing else may ride along or redirect it.
 */
export function apiUrlProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
    return 'must use https (plain http only for a loopback address)';
  }
  if (u.username || u.password) return 'may not contain credentials';
  if (u.search || value.includes('?')) return 'may not contain a query';
  if (u.hash || value.includes('#')) return 'may not contain a fragment';
  return undefined;
}

/** `https://host[/prefix]` without a trailing slash or a trailing `/api/v0` (paths add it). */
export function normalizeApiUrl(value: string): string {
  const u = new URL(value);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v0$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Directories a lease must never work directly in. */
const BROAD = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/workspace']);

export const workRootProblem = (value: string) => checkWorkRoot(value, (n) => BROAD.has(n), 'one such as /root/durabox');

/** `field` or `field:asc|desc`, e.g. `dph_total` (cheapest first) or `reliability2:desc`. */
const ORDER = /^[a-z][a-z0-9_]{0,39}(?::(?:asc|desc))?$/;

export const vastConfigSchema = onFirstUse(() =>
  z
    .object({
      /** API origin. Trusted only: the key is sent there. */
      apiUrl: z
        .string()
        .default(VAST_DEFAULT_API_URL)
        .superRefine(refineWith(apiUrlProblem, 'apiUrl'))
        .transform(normalizeApiUrl),
      /** GPU model as Vast spells it (`RTX_4090` or `RTX 4090`; underscores are sent as spaces). */
      gpuName: z.string().regex(/^[A-Za-z0-9 _.-]{1,64}$/, 'gpuName: letters, digits, space, "_", "." and "-"').optional(),
      /** Exact number of GPUs per instance. */
      gpuCount: z.number().int().min(1).max(64).default(1),
      /**
       * Refuse offers above this many $/hour (dph_total, GPU + storage). Filters the search and is
       * re-checked on every offer; it is not a spend cap (see the lease-wide `maxCost`).
       */
      maxPrice: z.number().positive().max(1000).default(1),
      /** Minimum machine reliability (0–1). */
      minReliability: z.number().min(0).max(1).optional(),
      /** Local disk in GB (billed from creation, even when stopped). */
      diskGB: z.number().positive().max(100_000).default(20),
      /** `on-demand` (fixed price) or `interruptible` (bid; stops when outbid). */
      instanceType: z.enum(['on-demand', 'interruptible']).default('on-demand'),
      /** Offer sort order: `field[:asc|desc]`. */
      order: z.string().regex(ORDER, 'order must be field or field:asc|desc, e.g. dph_total').default('dph_total:asc'),
      image: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._\/:@-]{0,254}$/, 'image: a docker image reference').default(VAST_DEFAULT_IMAGE),
      /** A Vast template to start from instead of `image`. */
      templateHashId: z.string().regex(/^[A-Za-z0-9]{8,64}$/, 'templateHashId: the template hash').optional(),
      runtype: z.enum(['ssh_direct', 'ssh_proxy', 'ssh']).default('ssh_direct'),
      /** SSH user on the instance (Vast's SSH runtypes log in as root). */
      user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'user: a plain login name').default('root'),
      workRoot: z
        .string()
        .default('/root/durabox')
        .superRefine(refineWith(workRootProblem, 'workRoot')),
      /** Failover bound: how many matching offers one create may try when offers are taken. */
      maxOffers: z.number().int().min(1).max(10).default(3),
      /** Limit for the instance to report running with an SSH endpoint. */
      readyTimeoutMs: z.number().int().positive().default(10 * 60_000),
      /** Limit for the SSH probe once the instance is running. */
      sshTimeoutMs: z.number().int().positive().default(5 * 60_000),
      /** Interval between instance polls (providers.md: at least 3 s against the real API). */
      pollIntervalMs: z.number().int().min(10).default(3_000),
      /** After an ambiguous create, look for the labelled instance this long before giving up. */
      createGraceMs: z.number().int().min(0).default(30_000),
      /** Per-request timeout. */
      requestTimeoutMs: z.number().int().positive().default(30_000),
    })
    .strict(),
);

export type VastConfig = z.infer<ReturnType<typeof vastConfigSchema>>;

/** A repository may not choose where the key is sent, nor what runs as root with it. */
export const vastTrustedOnlyKeys = ['apiUrl'] as const;
