/**
 * Run one command on a box through the `ssh` binary. Exit 255 is ssh's own failure (transport,
 * auth, host key); every other status belongs to the remote command and is returned as-is.
 */
import type { SshTarget } from '../adapter.js';
import { ProviderError } from '../errors.js';
import { runProcess } from './exec.js';
import { sshArgv, sshEnv, type SshOptionMode } from './ssh-options.js';

export { shellQuote, shellQuoteArgv } from './quote.js';

export interface SshExecOptions {
  stdin?: string | Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Internal: the first-use probe in host-key.ts. */
  mode?: SshOptionMode;
}

export interface SshExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const HOST_KEY_MISMATCH = /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key for .* has changed/i;
const AUTH_DENIED = /Permission denied \(|Too many authentication failures/;

export async function sshExec(target: SshTarget, remoteCommand: string, opts: SshExecOptions = {}): Promise<SshExecResult> {
  const mode = opts.mode ?? {};
  if ((mode.hostKeyPolicy ?? 'pinned') === 'pinned' && target.hostKeys.length === 0) {
    throw new ProviderError('invalid', `no host key pinned for ${target.hostKeyAlias}; pin it first (pinHostKey/waitForSsh)`, {
      provider: 'common',
      operation: 'sshExec',
    });
  }
  const res = await runProcess('ssh', sshArgv(target, remoteCommand, mode), {
    stdin: opts.stdin,
    signal: opts.signal,
    timeoutMs: opts.timeoutMs,
    env: sshEnv(target),
  });
  if (res.timedOut) {
    throw new ProviderError('transient', `ssh to ${target.hostKeyAlias} timed out after ${opts.timeoutMs} ms`, {
      provider: 'common',
      operation: 'sshExec',
      status: res.code,
    });
  }
  if (res.code === 255) throw sshTransportError(target, res.stderr, 'sshExec');
  return { code: res.code, stdout: res.stdout, stderr: res.stderr };
}

/**
 * Classify an ssh exit 255. A changed host key is `ownership` (the machine answering is not the one
 * the lease recorded: never talk to it, never retry); refused auth is `auth`; the rest `transient`.
 */
export function sshTransportError(target: SshTarget, stderr: string, operation: string): ProviderError {
  const opts = { provider: 'common', operation, status: 255 };
  if (HOST_KEY_MISMATCH.test(stderr)) {
    return new ProviderError('ownership', `host key for ${target.hostKeyAlias} changed: refusing to connect`, opts);
  }
  const line = lastLine(stderr);
  if (AUTH_DENIED.test(stderr)) {
    return new ProviderError('auth', `ssh ${target.user}@${target.host}:${target.port} refused our key: ${line}`, opts);
  }
  return new ProviderError('transient', `ssh transport to ${target.host}:${target.port} failed: ${line || 'exit 255'}`, opts);
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}
