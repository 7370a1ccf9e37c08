/**
 * Settings of the static `ssh` provider: one existing host the user already has access to.
 *
 * `workRoot`: when unset it is `$HOME/.cache/durabox/work` *on the remote*, resolved over SSH in
 * waitReady, because the remote home cannot be known from the worker (and a shared default such as
 * /tmp would mix users). An explicit value must be absolute.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^[0-9a-fA-F:]+$/;
const LOGIN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

export const sshConfigSchema = onFirstUse(() =>
  z
    .object({
      /** Bare hostname or IP: no scheme, port, user or path. */
      host: z.string().regex(HOSTNAME, 'a bare hostname or IP address'),
      port: z.number().int().min(1).max(65535).default(22),
      user: z.string().regex(LOGIN, 'a plain login name').default(() => userInfo().username),
      /** The identity on the worker that the host already accepts (the user's own key). */
      keyPath: z
        .string()
        .default(() => join(homedir(), '.ssh', 'id_ed25519'))
        .transform((p) => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : p))
        .refine((p) => p.startsWith('/'), 'keyPath must be absolute or start with ~/'),
      /** Pinned host key, `type base64`. Else the user's known_hosts entry, else first use. */
      hostKey: z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/, '`type base64`').optional(),
      workRoot: z.string().startsWith('/', 'workRoot must be absolute').optional(),
      /** Precedent: static hosts get the long SSH wait (they may be booting). */
      readyTimeoutMs: z.number().int().positive().default(20 * 60_000),
    })
    .strict(),
);

export type SshConfig = z.infer<ReturnType<typeof sshConfigSchema>>;

/** A repository may not point the user's key at another host, nor pin keys for it. */
export const sshTrustedOnlyKeys = ['host', 'port', 'user', 'keyPath', 'hostKey'] as const;
