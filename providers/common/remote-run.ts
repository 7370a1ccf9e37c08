/**
 * Detached, reattachable commands on a box.
 *
 * A run lives in `<workRoot>/<leaseId>/.durabox/runs/<runId>/` on the box: the wrapper records its
 * pid (= process group, via setsid), streams go to `stdout`/`stderr`, and the exit status lands in
 * `exit` when the command ends. Creating the run directory is the atomic "start once" guard: a
 * retried activity finds it and reattaches instead of starting the command again. Output is
 * followed with `tail --pid` from a byte offset, so a reattach continues exactly where the last
 * heartbeat said it was.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SshTarget } from '../adapter.js';
import { ProviderError } from '../errors.js';
import { childEnv } from './child-env.js';
import { sshExec, shellQuote } from './remote.js';
import { sshBaseArgs, sshEnv } from './ssh-options.js';

export interface RunSpec {
  leaseId: string;
  runId: string;
  workdir: string;
  argv: string[];
  env?: Record<string, string>;
}

export interface RunOffsets {
  stdout: number;
  stderr: number;
}

export interface RunOutcome {
  exitCode: number;
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed-out';
  offsets: RunOffsets;
}

/** The wrapper that runs on the box, detached from the SSH session in its own process group. */
const WRAPPER = `#!/bin/sh
# durabox run wrapper. $1 = run dir, $2 = workdir, the rest = argv.
R=$1; W=$2; shift 2
echo $$ > "$R/pid.tmp" && mv "$R/pid.tmp" "$R/pid"
if command -v bash >/dev/null 2>&1; then
  bash -lc 'cd "$0" && exec "$@"' "$W" "$@" >>"$R/stdout" 2>>"$R/stderr" </dev/null
else
  (cd "$W" && exec "$@") >>"$R/stdout" 2>>"$R/stderr" </dev/null
fi
code=$?
[ -e "$R/exit" ] || { echo "$code" > "$R/exit.tmp" && mv "$R/exit.tmp" "$R/exit"; }
`;

export function remoteRunDir(target: SshTarget, leaseId: string, runId: string): string {
  return `${target.workRoot}/${leaseId}/.durabox/runs/${runId}`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Start the command unless this run id already exists on the box; either way return its pid.
 * Returns `attached: true` when an earlier attempt had started it.
 */
export async function startOrAttach(target: SshTarget, spec: RunSpec): Promise<{ pid: number; attached: boolean }> {
  const R = remoteRunDir(target, spec.leaseId, spec.runId);
  const exports = Object.entries(spec.env ?? {})
    .filter(([k]) => ENV_NAME.test(k))
    .map(([k, v]) => `export ${k}=${shellQuote(v)};`)
    .join(' ');
  const argv = spec.argv.map(shellQuote).join(' ');
  const script = [
    `R=${shellQuote(R)}; W=${shellQuote(spec.workdir)};`,
    'mkdir -p "$W" "${R%/*}" || exit 90;',
    'if mkdir "$R" 2>/dev/null; then',
    '  cat > "$R/wrapper.sh"; : > "$R/stdout"; : > "$R/stderr";',
    `  ${exports}`,
    `  setsid sh "$R/wrapper.sh" "$R" "$W" ${argv} </dev/null >/dev/null 2>&1 &`,
    '  echo started;',
    'else cat >/dev/null; echo attached; fi;',
    'i=0; while [ ! -s "$R/pid" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;',
    'cat "$R/pid"',
  ].join('\n');
  const res = await sshExec(target, script, { stdin: WRAPPER, timeoutMs: 60_000 });
  const [mode, pidText] = res.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  if (res.code !== 0 || !Number.isInteger(pid) || pid <= 1) {
    throw new ProviderError('transient', `could not start run ${spec.runId} (exit ${res.code}): ${res.stderr.trim().slice(0, 200)}`, {
      provider: 'ssh',
      operation: 'run',
      leaseId: spec.leaseId,
      status: res.code,
    });
  }
  return { pid, attached: mode === 'attached' };
}

/**
 * Stream one remote file from `offset` into `localPath` (written at the same offsets) until the
 * remote process exits. Resolves with the new offset. SSH drops reject with a transient error.
 */
export function followStream(
  target: SshTarget,
  remoteFile: string,
  pid: number,
  localPath: string,
  offset: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    // Positional writes without O_APPEND (which Linux honours over pwrite's offset): the remote file
    // only grows, so byte N is the same whoever copies it. A superseded attempt still writing, or a
    // dead attempt's copy past the heartbeated offset, can then never duplicate or reorder output.
    const fd = openSync(localPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    let pos = offset;
    const cmd = `exec tail -c +${offset + 1} -s 0.2 --pid=${pid} -f ${shellQuote(remoteFile)}`;
    const child = spawn('ssh', [...sshBaseArgs(target), cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: sshEnv(target) });
    let stderr = '';
    const onAbort = () => child.kill('SIGTERM');
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => {
      writeSync(fd, chunk, 0, chunk.length, pos);
      pos += chunk.length;
      onBytes(chunk.length);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString();
    });
    let open = true;
    const closeFd = () => {
      if (open) closeSync(fd);
      open = false;
    };
    child.on('error', (err) => {
      closeFd();
      reject(err);
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      closeFd();
      if (signal.aborted) return resolve(pos);
      if (code === 0) return resolve(pos);
      reject(
        new ProviderError('transient', `lost the output stream (ssh exit ${code}): ${stderr.trim().slice(0, 200)}`, {
          provider: 'ssh',
          operation: 'run',
          status: code ?? undefined,
        }),
      );
    });
  });
}

/** Read the exit status the wrapper wrote; undefined while the command still runs. */
export async function readExit(target: SshTarget, leaseId: string, runId: string): Promise<{ code?: number; status?: string; alive: boolean }> {
  const R = shellQuote(remoteRunDir(target, leaseId, runId));
  const res = await sshExec(
    target,
    `R=${R}; p=$(cat "$R/pid" 2>/dev/null); a=dead; [ -n "$p" ] && kill -0 "$p" 2>/dev/null && a=alive; echo "$a $(cat "$R/exit" 2>/dev/null || echo -) $(cat "$R/status" 2>/dev/null || echo -)"`,
    { timeoutMs: 30_000 },
  );
  const [alive, code, status] = res.stdout.trim().split(/\s+/);
  return { alive: alive === 'alive', code: code && code !== '-' ? Number(code) : undefined, status: status && status !== '-' ? status : undefined };
}

/**
 * Kill the run's process group (TERM, then KILL after a grace period) and record why, unless the
 * command had already finished on its own.
 */
export async function killRun(target: SshTarget, leaseId: string, runId: string, why: 'cancelled' | 'timed-out', graceSeconds = 3): Promise<void> {
  const R = shellQuote(remoteRunDir(target, leaseId, runId));
  const code = why === 'timed-out' ? 124 : 130;
  await sshExec(
    target,
    `R=${R}; p=$(cat "$R/pid" 2>/dev/null) || exit 0; [ -e "$R/exit" ] && exit 0; echo ${why} > "$R/status";` +
      ` kill -TERM -- -"$p" 2>/dev/null; i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt ${graceSeconds * 10} ]; do sleep 0.1; i=$((i+1)); done;` +
      ` kill -KILL -- -"$p" 2>/dev/null; [ -e "$R/exit" ] || echo ${code} > "$R/exit"; true`,
    { timeoutMs: 60_000 },
  );
}

/** The last `maxLines` lines of a local log, bounded in bytes so results stay small in history. */
export function tailOf(path: string, maxBytes = 2048, maxLines = 20): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').slice(-maxLines).join('\n');
  } finally {
    closeSync(fd);
  }
}

export const localRunFiles = (dir: string) => ({ stdout: join(dir, 'stdout'), stderr: join(dir, 'stderr') });
