/**
 * One way to run a helper binary: spawn without a shell, filtered environment, optional stdin,
 * abort signal and timeout. Callers classify exit codes; this module only reports them.
 */
import { spawn } from 'node:child_process';
import { childEnv } from './child-env.js';

export interface RunOptions {
  stdin?: string | Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each stderr/stdout chunk (e.g. to heartbeat while a long transfer runs). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when we killed the child because of the timeout. */
  timedOut: boolean;
}

/** Thrown (as a plain Error named AbortError) when `signal` fires; the child is killed first. */
export function abortError(signal?: AbortSignal): Error {
  const reason = signal?.reason;
  if (reason instanceof Error) return reason;
  const err = new Error(typeof reason === 'string' ? reason : 'operation aborted');
  err.name = 'AbortError';
  return err;
}

/** Run `cmd args` to completion. Rejects only on spawn failure or abort. */
export function runProcess(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortError(opts.signal));
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? childEnv(),
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let aborted = false;
    const kill = () => {
      child.kill('SIGTERM');
      // A child that ignores SIGTERM (ssh waiting on a dead network) still has to go.
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 2000).unref();
    };
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, opts.timeoutMs)
        : undefined;
    child.stdout!.on('data', (c: Buffer) => {
      out.push(c);
      opts.onOutput?.('stdout', c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      err.push(c);
      opts.onOutput?.('stderr', c);
    });
    if (opts.stdin !== undefined) {
      child.stdin!.on('error', () => {}); // EPIPE when the child exits without reading: the exit code says why
      child.stdin!.end(opts.stdin);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    // An ssh client sharing a ControlMaster hands our pipes to the master, which keeps them open
    // until the remote command ends: once we killed the child, its exit is the end.
    child.on('exit', () => {
      if (!aborted && !timedOut) return;
      child.stdout!.destroy();
      child.stderr!.destroy();
    });
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (aborted) return reject(abortError(opts.signal));
      resolve({
        code: code ?? (sig ? 128 + (signalNumber(sig) ?? 0) : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}
