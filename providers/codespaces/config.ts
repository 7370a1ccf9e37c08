/**
 * Settings of the `codespaces` provider: GitHub Codespaces created through the REST API and reached
 * over SSH through `gh codespace ssh --stdio` (providers.md 2.2). Validated by zod when the adapter
 * is built; every message is one line.
 *
 * The token is not a setting: `GH_TOKEN` / `GITHUB_TOKEN` from the worker's environment, else
 * `gh auth token` (api.ts), read at each call.
 */
import { execFileSync } from 'node:child_process';
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';
import { refineWith } from '../common/refine.js';

export const GITHUB_API_URL = 'https://api.github.com';

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|::1)$/;

/**
 * Why `value` is not an acceptable API base, or undefined: https only (plain http only to a
 * loopback address, for tests), no credentials, query or fragment. The token is sent there.
 */
export function apiUrlProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) {
    return 'must use https (plain http only for a loopback address)';
  }
  if (u.username || u.password) return 'may not contain credentials';
  if (u.search || value.includes('?')) return 'may not contain a query';
  if (u.hash || value.includes('#')) return 'may not contain a fragment';
  return undefined;
}

export const normalizeApiUrl = (v: string) => {
  const u = new URL(v);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
};

/**
 * The gh host for an API base: api.X.ghe.com → X.ghe.com; everything else is github.com (GitHub
 * Enterprise Server has no Codespaces; a loopback base is a test fake of api.github.com).
 */
export function ghHostFor(apiUrl: string): string {
  const h = new URL(apiUrl).hostname;
  if (/^api\.[a-z0-9-]+\.ghe\.com$/.test(h)) return h.slice(4);
  return 'github.com';
}

const REPO = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;

/** `owner/name` from a GitHub remote URL (https, ssh or scp-like), else undefined. */
export function repoFromRemote(url: string): string | undefined {
  const m = /^(?:https:\/\/(?:[^@/]+@)?github\.com\/|(?:ssh:\/\/)?git@github\.com[:/])([^/]+\/[^/]+?)(?:\.git)?\/?$/.exec(url.trim());
  return m && REPO.test(m[1]!) ? m[1] : undefined;
}

/** The `origin` remote of the checkout in `cwd`, when it is a github.com repository. */
export function repoFromGit(cwd = process.cwd()): string | undefined {
  try {
    const url = execFileSync('git', ['remote', 'get-url', 'origin'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return repoFromRemote(url);
  } catch {
    return undefined;
  }
}

/** `30m`, `2h`, `7d` or a number of minutes → minutes. */
const DURATION = /^(\d{1,6})\s*(m|min|h|d)?$/;
const minutes = (label: string, min: number, max: number) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const m = DURATION.exec(String(v).trim());
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `${label}: a duration such as 30m, 2h or 7d` });
        return z.NEVER;
      }
      const n = Number(m[1]) * ({ m: 1, min: 1, h: 60, d: 1440 } as Record<string, number>)[m[2] ?? 'm']!;
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${label}: between ${min} and ${max} minutes` });
        return z.NEVER;
      }
      return n;
    });

/** Absolute, no `.`/`..` segments, no control characters, not `/`. */
const ABS = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._@+-]+)+\/?$/;

const GEOS = ['EuropeWest', 'SoutheastAsia', 'UsEast', 'UsWest'] as const;

export const codespacesConfigSchema = onFirstUse(() =>
  z
    .object({
      /** `owner/name`. Trusted only; defaults to the github.com `origin` remote of the current checkout. */
      repo: z.union([z.literal(''), z.string().regex(REPO, 'repo: owner/name of a GitHub repository')]).optional(),
      ref: z.string().regex(/^[A-Za-z0-9._\/-]{1,255}$/, 'ref: a branch or tag name').optional(),
      /** Machine type; checked against the repository's machine list before create. */
      machine: z.string().regex(/^[A-Za-z0-9]{1,64}$/, 'machine: a machine name such as basicLinux32gb').optional(),
      devcontainerPath: z
        .string()
        .regex(/^(?!\/)(?!.*\.\.)[A-Za-z0-9._\/-]{1,255}\.json$/, 'devcontainerPath: a relative path to a devcontainer.json')
        .optional(),
      geo: z.enum(GEOS).optional(),
      /** Stop after this much inactivity (GitHub: 5–240 minutes). Trusted only. */
      idleTimeout: minutes('idleTimeout', 5, 240).default(30),
      /** Delete this long after a stop (1 minute–30 days). 0 is refused: GitHub would delete on stop. Trusted only. */
      retentionPeriod: minutes('retentionPeriod', 1, 43_200).default(10_080),
      /** What release does by default. `delete` still stops instead when the codespace has unpushed work. Trusted only. */
      releaseAction: z.enum(['delete', 'stop', 'keep']).default('delete'),
      /** The gh CLI (name on PATH or absolute path). Trusted only: it receives the token. */
      ghPath: z.string().regex(/^(?:\/[^\x00-\x1f]*|[A-Za-z0-9._-]+)$/, 'ghPath: a program name or an absolute path').default('gh'),
      /** API base. Trusted only: the token is sent there. */
      apiUrl: z
        .string()
        .default(GITHUB_API_URL)
        .superRefine(refineWith(apiUrlProblem, 'apiUrl'))
        .transform(normalizeApiUrl),
      /** Where the codespace mounts repositories; the workspace folder is `<workspacesRoot>/<repo name>`. */
      workspacesRoot: z.string().regex(ABS, 'workspacesRoot: an absolute path').default('/workspaces'),
      /**
       * Directory for durabox's synced trees, outside the repository checkout so git_status stays the
       * user's own. @default `<workspacesRoot>/.durabox`
       */
      workRoot: z.string().regex(ABS, 'workRoot: an absolute path').optional(),
      /** Limit for the codespace to become Available. */
      readyTimeoutMs: z.number().int().positive().default(10 * 60_000),
      sshTimeoutMs: z.number().int().positive().default(5 * 60_000),
      /** Interval between codespace polls (3 s against the real API). */
      pollIntervalMs: z.number().int().min(10).default(3_000),
      /** Limit for a delete to show 404. */
      deleteTimeoutMs: z.number().int().positive().default(2 * 60_000),
      /** After an ambiguous create, look for the display name this long before giving up. */
      createGraceMs: z.number().int().min(0).default(30_000),
      requestTimeoutMs: z.number().int().positive().default(30_000),
    })
    .strict()
    // `repo: ''` records "looked, found none", so a later parse on the worker never reads its own cwd.
    .transform((c) => ({ ...c, repo: c.repo ?? repoFromGit() ?? '', workRoot: c.workRoot ?? `${c.workspacesRoot.replace(/\/+$/, '')}/.durabox` })),
);

export type CodespacesConfig = z.output<ReturnType<typeof codespacesConfigSchema>>;

/** A repository may not choose where the token goes, which repository gets it, or destroy more. */
export const codespacesTrustedOnlyKeys = ['apiUrl', 'ghPath', 'repo', 'releaseAction', 'idleTimeout', 'retentionPeriod'] as const;
