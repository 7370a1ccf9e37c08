/**
 * One way to run a helper binary: spawn without a shell, filtered environment, optional stdin,
 * abort signal and timeout. Callers classify exit codes; this module only reports them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
/** Give a child its whole stdin; EPIPE when it exits without reading is ignored (its exit code says why). */
export function writeStdin(child: ChildProcess, text: string | Buffer): void {
  child.stdin!.on('error', () => {});
  child.stdin!.end(text);
}

/**
 * An ssh client sharing a ControlMaster hands its pipes to the master, which keeps them open until
 * the remote command ends: once we have killed the child, its exit is the end ('close' follows).
 */
export function endAtExitOnceKilled(child: ChildProcess, killed: () => boolean): void {
  child.on('exit', () => {
    if (!killed()) return;
    child.stdout?.destroy();
    child.stderr?.destroy();
  });
}

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
    if (opts.stdin !== undefined) writeStdin(child, opts.stdin);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    endAtExitOnceKilled(child, () => aborted || timedOut);
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
