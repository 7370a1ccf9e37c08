/**
 * Settings of the `agx` provider: microVM sandboxes reached only through an SSH gateway as
 * `<user>+<instance>@<gateway>` with the operator's own registered key (providers.md 2.5).
 *
 * Everything is validated here, before any connection: zod runs when the adapter is built, and
 * every message is one line naming what is wrong.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';
import { refineWith } from '../common/refine.js';
import { workRootProblem as checkWorkRoot } from '../common/work-root.js';

export const AGX_DEFAULT_GATEWAY = 'workspace.agx.so';

/** `type base64`, the form known_hosts uses without its host column. */
export const HOST_KEY_LINE = /^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/;
/** An OpenSSH SHA256 fingerprint as `ssh-keygen -lf` prints it (padding optional). */
export const HOST_KEY_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `value` is not a bare hostname, or undefined when it is one. */
export function gatewayProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (/[\s\x00-\x1f\x7f]/.test(value)) return 'contains whitespace or control characters';
  if (value.startsWith('-')) return 'starts with "-" (ssh would read it as an option)';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) return 'has a URL scheme; give the bare hostname, e.g. workspace.agx.so';
  if (value.includes('@')) return 'contains "@" (user info); set agx.user instead';
  if (value.includes('/')) return 'contains a path; give the bare hostname';
  if (value.includes(':')) return 'contains ":" (a port or IPv6 literal); set agx.port instead';
  if (value.length > 253) return 'is longer than 253 characters';
  const labels = value.replace(/\.$/, '').split('.');
  if (!labels.every((l) => LABEL.test(l))) return 'is not a hostname (letters, digits, "-" and dots only)';
  return undefined;
}

/** Why `value` is not a plain vm user, or undefined. `+` and `@` would change the gateway login. */
export function userProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.startsWith('-')) return 'starts with "-"';
  if (value.length > 64) return 'is longer than 64 characters';
  if (!/^[A-Za-z0-9._-]+$/.test(value)) return 'may only contain letters, digits, ".", "_" and "-"';
  return undefined;
}

/** Directories a lease must never work directly in: syncing or pruning there could hit system files. */
export const BROAD_DIRS: ReadonlySet<string> = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt',
  '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/lib', '/usr/local',
  '/usr/sbin', '/usr/share', '/var', '/var/lib', '/var/log', '/var/tmp', '/Users', '/workspace', '/workspaces',
]);

/** Why `value` is not an acceptable work root, or undefined. */
export const workRootProblem = (value: string) => checkWorkRoot(value, (n) => BROAD_DIRS.has(n), 'directory such as /home/<user>/work');

const expandHome = (p: string) => (p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p);

export const agxConfigSchema = onFirstUse(() =>
  z
    .object({
      /** The workspace gateway: a bare hostname. Trusted only: it decides where the user's key goes. */
      gateway: z.string().superRefine(refineWith(gatewayProblem, 'gateway')).prefault(AGX_DEFAULT_GATEWAY),
      /** Gateway SSH port. Unverified: the vendor publishes only the default, 22. */
      port: z.number().int().min(1).max(65535).default(22),
      /** The vm user, the part before `+` in the gateway login. Defaults to the local login name. */
      user: z
        .string()
        .superRefine(refineWith(userProblem, 'user'))
        // prefault: the local login name is validated like a configured one.
        .prefault(() => userInfo().username),
      /** The operator's own key registered with AGX (path on the worker; the bytes never move). */
      keyPath: z
        .string()
        .default('~/.ssh/id_ed25519')
        .transform(expandHome)
        .refine((p) => p.startsWith('/'), 'keyPath must be absolute or start with ~/'),
      /**
       * The gateway's host key, pinned before the first connection: `type base64` (a known_hosts
       * line without the host) or an OpenSSH fingerprint `SHA256:…`. Unset: the user's known_hosts
       * entry for the gateway, else trust on first use, recorded once per gateway and enforced after.
       */
      hostKey: z
        .string()
        .trim()
        .refine((k) => HOST_KEY_LINE.test(k) || HOST_KEY_FINGERPRINT.test(k), 'hostKey must be `type base64` or `SHA256:<fingerprint>`')
        .optional(),
      /** The user's known_hosts file consulted for a gateway entry (read only, never written). */
      knownHostsFile: z.string().default('~/.ssh/known_hosts').transform(expandHome)
        .refine((p) => p.startsWith('/'), 'knownHostsFile must be absolute or start with ~/'),
      /** Absolute directory in the sandbox for `<leaseId>/<repo>`. Unset: `$HOME/.cache/durabox/work` there. */
      workRoot: z.string().superRefine(refineWith(workRootProblem, 'workRoot')).optional(),
      /** First part of every instance name. Short because AGX's naming limits are unknown. */
      instancePrefix: z.string().regex(/^[a-z][a-z0-9]{0,7}$/, 'instancePrefix must be 1-8 lowercase letters or digits, starting with a letter').default('dbx'),
      /** Bounded wait for SSH through the gateway (the first connect provisions the sandbox). */
      readyTimeoutMs: z.number().int().positive().default(5 * 60_000),
      /** `doctor` also contacts the gateway (key exchange only: no login, so nothing is provisioned). */
      probe: z.boolean().default(false),
    })
    .strict(),
);

export type AgxConfig = z.infer<ReturnType<typeof agxConfigSchema>>;

/** A repository may not send the user's key to another gateway, nor decide which gateway key to trust. */
export const agxTrustedOnlyKeys = ['gateway', 'port', 'user', 'keyPath', 'hostKey', 'knownHostsFile'] as const;
