/** Settings of the embedded `local` provider (a private sshd per lease on this machine). */
import { z } from 'zod';
import { onFirstUse } from '../common/on-first-use.js';

export const localConfigSchema = onFirstUse(() =>
  z
    .object({
      /** Absolute path of the OpenSSH server; default: the first `sshd` on PATH, /usr/sbin, /usr/local/sbin, /sbin. */
      sshdPath: z.string().startsWith('/').optional(),
      /** How long a freshly spawned sshd may take to listen. */
      startTimeoutMs: z.number().int().positive().default(10_000),
      /** Limit for the SSH probe in waitReady/resume. */
      readyTimeoutMs: z.number().int().positive().default(120_000),
    })
    .strict(),
);

export type LocalConfig = z.infer<ReturnType<typeof localConfigSchema>>;

/** A repository's durabox.yaml must not choose which binary the worker executes. */
export const localTrustedOnlyKeys = ['sshdPath'] as const;
