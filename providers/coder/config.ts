/**
 * Settings of the `coder` provider: workspaces on a Coder deployment, driven through its REST API
 * (providers.md 2.3). Validated by zod when the adapter is built; every message is one line.
 *
 * The session token is not a setting: it comes from `CODER_SESSION_TOKEN` in the worker's
 * environment, read at each call (api.ts). The deployment URL is `url` here (trusted config only)
 * or `CODER_URL` from the same environment.
 */
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';
import { refineWith } from '../common/refine.js';
import { workRootProblem as checkWorkRoot } from '../common/work-root.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Why `value` is not an acceptable deployment URL, or undefined. https only (plain http only to a
 * loopback address, for tests), no credentials, query or fragment: the session token is sent there.
 */
export function coderUrlProblem(value: string): string | undefined {
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

/** `https://host[/prefix]` without a trailing slash or a trailing `/api/v2` (paths add it). */
export function normalizeCoderUrl(value: string): string {
  const u = new URL(value);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v2$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Directories a lease must never work directly in. */
const BROAD = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr',
  '/var', '/workspace', '/workspaces', '/home/coder',
]);

export const workRootProblem = (value: string) => checkWorkRoot(value, (n) => BROAD.has(n) || /^\/usr\//.test(n), 'one such as /home/coder/durabox');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** `name=value` strings (from `--coder-param`, repeatable) or a `{name: value}` map → a map. */
const parametersSchema = () =>
  z
    .union([z.array(z.string()), z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))])
    .default({})
    .transform((v, ctx) => {
      const out: Record<string, string> = {};
      const entries: Array<[string, string]> = Array.isArray(v)
        ? v.map((s) => {
            const i = s.indexOf('=');
            return i < 0 ? [s, '\0'] : [s.slice(0, i), s.slice(i + 1)];
          })
        : Object.entries(v).map(([k, x]) => [k, String(x)]);
      for (const [k, x] of entries) {
        if (x === '\0') {
          ctx.addIssue({ code: 'custom', message: `parameter ${JSON.stringify(k)} must be name=value` });
          return z.NEVER;
        }
        if (!PARAM_NAME.test(k)) {
          ctx.addIssue({ code: 'custom', message: `parameter name ${JSON.stringify(k)}: letters, digits, "_", "." and "-"` });
          return z.NEVER;
        }
        out[k] = x;
      }
      return out;
    });

export const coderConfigSchema = onFirstUse(() =>
  z
    .object({
      /** Deployment URL. Trusted only: the session token is sent there. @default CODER_URL */
      url: z
        .string()
        .superRefine(refineWith(coderUrlProblem, 'url'))
        .transform(normalizeCoderUrl)
        .optional(),
      /** The `coder` binary used as the SSH ProxyCommand. Trusted only: it receives the token. */
      cliPath: z.string().regex(/^[^\s\x00-\x1f-][^\x00-\x1f]{0,4095}$/, 'cliPath: a path or a command name').default('coder'),
      /** Template name (or id). Required to create; doctor reports it missing. */
      template: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'template: a Coder template name').optional(),
      /** Template version id (default: the template's active version). */
      templateVersionId: z.string().regex(UUID, 'templateVersionId: a UUID').optional(),
      /** A preset of the template version: its name (looked up at create) or its id. */
      preset: z.string().regex(/^[^\x00-\x1f]{1,128}$/, 'preset: a preset name or id, 1-128 printable characters').optional(),
      /** Rich parameter values: `name=value` strings or a map. Win over richParameterFile. */
      parameters: parametersSchema(),
      /** A YAML/JSON file of `name: value` pairs on the worker, read at create. Trusted only. */
      richParameterFile: z.string().regex(/^\/[^\x00-\x1f]{1,4095}$/, 'richParameterFile: an absolute path').optional(),
      /** Leave parameters that have a default to their default (the REST API's behaviour); false refuses to create unless every parameter is given. */
      useParameterDefaults: z.boolean().default(true),
      /** First part of every workspace name; the rest is the slug and the lease id. */
      workspacePrefix: z.string().regex(/^[a-z][a-z0-9]{0,9}$/, 'workspacePrefix: 1-10 lowercase letters and digits, starting with a letter').default('dbx'),
      /** SSH user (the Coder agent ignores it; precedent sends `coder`). */
      user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'user: a plain login name').default('coder'),
      workRoot: z
        .string()
        .default('/home/coder/durabox')
        .superRefine(refineWith(workRootProblem, 'workRoot')),
      /** `coder ssh --wait`: whether the tunnel waits for startup scripts. */
      wait: z.enum(['yes', 'no', 'auto']).default('auto'),
      /** Limit for the build to run and the agent to be connected and ready. */
      readyTimeoutMs: z.number().int().positive().default(20 * 60_000),
      /** Limit for the SSH probe once the agent is ready. */
      sshTimeoutMs: z.number().int().positive().default(5 * 60_000),
      /** Limit for a stop or delete build to finish. */
      buildTimeoutMs: z.number().int().positive().default(10 * 60_000),
      /** Interval between polls (providers.md: 3-10 s against a real deployment). */
      pollIntervalMs: z.number().int().min(10).default(3_000),
      /** After an ambiguous create, look for the workspace by name this long before giving up. */
      createGraceMs: z.number().int().min(0).default(30_000),
      /** Per-request timeout. */
      requestTimeoutMs: z.number().int().positive().default(30_000),
    })
    .strict(),
);

export type CoderConfig = z.infer<ReturnType<typeof coderConfigSchema>>;

/** A repository may not choose where the token goes, which binary gets it, nor which worker file is sent. */
export const coderTrustedOnlyKeys = ['url', 'cliPath', 'richParameterFile'] as const;
