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
import { endAtExitOnceKilled } from './exec.js';
import { sshExec, shellQuote } from './remote.js';
import { DROP_LOGIN_CACHE, RUN_WRAPPER, loginArg } from './run-wrapper.js';
import { sshBaseArgs, sshEnv } from './ssh-options.js';

export interface RunSpec {
  leaseId: string;
  runId: string;
  workdir: string;
  argv: string[];
  env?: Record<string, string>;
  /**
   * Start only if the box's recorded sync fingerprint is this one (a run not yet started; a
   * reattach never checks): otherwise `SyncStaleError`, and nothing is started. It may still be
   * being computed: the session starts at once and the box reads it as stdin's first line.
   */
  syncCheck?: { fingerprint: string | Promise<string>; fingerprintFile: string };
  /** Log in the full way even if the box has this lease's login environment cached (run-wrapper.ts). */
  freshLogin?: boolean;
}

/** The tree on the box is not the one the run expects: sync, then run again with the same id. */
export class SyncStaleError extends Error {
  constructor(runId: string) {
    super(`run ${runId} not started: the tree on the box differs from the local one`);
    this.name = 'SyncStaleError';
  }
}

const STALE_MARKER = 'durabox-sync-stale';

/**
 * How often `tail --pid` looks whether the command is gone (seconds). It is the lag between a
 * command's end and its run's end on every run: 20 ms, 50 checks a second of one tiny process.
 */
const TAIL_POLL = '0.02';
const STALE_LINE = new RegExp(`^${STALE_MARKER}$`, 'm');

export interface RunOffsets {
  stdout: number;
  stderr: number;
}

export interface RunOutcome {
  exitCode: number;
  status: 'succeeded' | 'failed' | 'cancelled' | 'timed-out';
  offsets: RunOffsets;
}

export function remoteRunDir(target: SshTarget, leaseId: string, runId: string): string {
  return `${target.workRoot}/${leaseId}/.durabox/runs/${runId}`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Start the command unless this run id already exists on the box; either way return its pid.
 * Returns `attached: true` when an earlier attempt had started it.
 */
export async function startOrAttach(target: SshTarget, spec: RunSpec): Promise<{ pid: number; attached: boolean }> {
  const script = [startScript(target, spec), 'echo "$m $p"'].join('\n');
  const res = await sshExec(target, script, { stdin: await startInput(spec), timeoutMs: 60_000 });
  const [mode, pidText] = res.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  if (res.code !== 0 || !Number.isInteger(pid) || pid <= 1) throw couldNotStart(spec, res.code, res.stderr);
  return { pid, attached: mode === 'attached' };
}

/** The start script's stdin: the expected fingerprint's line first when there is one, then the wrapper. */
async function startInput(spec: RunSpec): Promise<string> {
  return spec.syncCheck ? `${await spec.syncCheck.fingerprint}\n${RUN_WRAPPER}` : RUN_WRAPPER;
}

/**
 * Shell that starts the run unless its directory exists (then it attaches), and leaves the mode in
 * `$m` and the pid in `$p`. The wrapper comes on stdin, after the expected fingerprint's line.
 */
function startScript(target: SshTarget, spec: RunSpec): string {
  const R = remoteRunDir(target, spec.leaseId, spec.runId);
  const exports = Object.entries(spec.env ?? {})
    .filter(([k]) => ENV_NAME.test(k))
    .map(([k, v]) => `export ${k}=${shellQuote(v)};`)
    .join(' ');
  const argv = spec.argv.map(shellQuote).join(' ');
  const login = shellQuote(loginArg(spec.env, spec.freshLogin ?? false));
  const check = spec.syncCheck
    ? // No line (the worker gave up before it knew the fingerprint): nothing starts, nothing matches.
      'IFS= read -r F && [ -n "$F" ] || exit 93;' +
      `if [ ! -d "$R" ] && { [ ! -d "$W" ] || [ "$(cat ${shellQuote(spec.syncCheck.fingerprintFile)} 2>/dev/null)" != "$F" ]; }; then cat >/dev/null; echo ${STALE_MARKER} >&2; exit 0; fi;`
    : '';
  return [
    `R=${shellQuote(R)}; W=${shellQuote(spec.workdir)};`,
    check,
    'mkdir -p "$W" "${R%/*}" || exit 90;',
    'if mkdir "$R" 2>/dev/null; then',
    '  cat > "$R/wrapper.sh"; : > "$R/stdout"; : > "$R/stderr";',
    `  ${exports}`,
    `  setsid sh "$R/wrapper.sh" "$R" "$W" ${login} ${argv} </dev/null >/dev/null 2>&1 &`,
    '  m=started;',
    'else cat >/dev/null; m=attached; fi;',
    // The wrapper writes its pid a few milliseconds after the spawn: poll finely, up to 10 s.
    'i=0; while [ ! -s "$R/pid" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done;',
    'p=$(cat "$R/pid" 2>/dev/null); [ -n "$p" ] || exit 91;',
  ].join('\n');
}

function couldNotStart(spec: RunSpec, code: number | null, stderr: string): ProviderError {
  return new ProviderError('transient', `could not start run ${spec.runId} (exit ${code}): ${stderr.trim().slice(0, 200)}`, {
    provider: 'ssh',
    operation: 'run',
    leaseId: spec.leaseId,
    status: code ?? undefined,
  });
}

export interface StartedAndFollowed {
  /** Local offset after the last byte copied. */
  offset: number;
  pid: number;
  attached: boolean;
  /** The exit facts the same session read once the command ended (absent if it could not tell). */
  exit?: { code: number; status?: string };
}

/**
 * One SSH session for the whole life of a run's stdout: start (or attach to) the run, stream its
 * stdout from `offset` into `localPath`, then report the exit status. The session's own stderr
 * carries only two lines of ours (`durabox-run <mode> <pid>` first, `durabox-exit <code> <status>`
 * last), so a run costs one remote login here instead of three in a row. The stderr stream is
 * followed alongside with `followStderr`.
 */
export function startAndFollow(
  target: SshTarget,
  spec: RunSpec,
  localPath: string,
  offset: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
): Promise<StartedAndFollowed> {
  const script = [
    startScript(target, spec),
    'echo "durabox-run $m $p" >&2;',
    `tail -c +${offset + 1} -s ${TAIL_POLL} --pid="$p" -f "$R/stdout";`,
    // The wrapper writes `exit` right after the command ends.
    `i=0; while [ ! -e "$R/exit" ] && kill -0 "$p" 2>/dev/null && [ $i -lt 250 ]; do sleep ${TAIL_POLL}; i=$((i+1)); done;`,
    'echo "durabox-exit $(cat "$R/exit" 2>/dev/null || echo -) $(cat "$R/status" 2>/dev/null || echo -)" >&2',
  ].join('\n');
  // A cancel or timeout arriving before the box said the run exists must not cut the start short
  // (the command could start after a kill found no pid): hold it until the header, within a limit.
  const HEADER = /^durabox-run (started|attached) (\d+)$/m;
  const inner = new AbortController();
  let headerSeen = false;
  const cut = () => inner.abort();
  const onOuterAbort = () => {
    if (headerSeen) return cut();
    setTimeout(cut, 60_000).unref();
  };
  signal.addEventListener('abort', onOuterAbort, { once: true });
  const onStderr = (text: string) => {
    if (headerSeen || !HEADER.test(text)) return;
    headerSeen = true;
    if (signal.aborted) cut();
  };
  const stdin = startInput(spec);
  // Handled where the session writes it; this keeps a rejection seen even if the session never starts.
  stdin.catch(() => undefined);
  return copyRemote(target, script, localPath, offset, onBytes, inner.signal, stdin, onStderr).then(({ offset: end, code, stderr }) => {
    signal.removeEventListener('abort', onOuterAbort);
    const head = HEADER.exec(stderr);
    if (!head && code === 0 && STALE_LINE.test(stderr)) throw new SyncStaleError(spec.runId);
    if (!head) throw couldNotStart(spec, code, stderr);
    if (code !== 0 && !inner.signal.aborted) throw lostStream(code, stderr);
    const tail = /^durabox-exit (-|\d+) (\S+)$/m.exec(stderr);
    const exit = tail && tail[1] !== '-' ? { code: Number(tail[1]), status: tail[2] !== '-' ? tail[2] : undefined } : undefined;
    return { offset: end, pid: Number(head[2]), attached: head[1] === 'attached', exit };
  });
}

/**
 * Follow a run's stderr from `offset` in a session of its own, started alongside `startAndFollow`:
 * it waits on the box for the run's pid rather than for the other session to report it.
 */
export async function followStderr(
  target: SshTarget,
  leaseId: string,
  runId: string,
  localPath: string,
  offset: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
): Promise<number> {
  const R = shellQuote(remoteRunDir(target, leaseId, runId));
  const script =
    `R=${R}; i=0; while [ ! -s "$R/pid" ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i+1)); done; ` +
    `p=$(cat "$R/pid" 2>/dev/null); [ -n "$p" ] || exit 92; ` +
    `exec tail -c +${offset + 1} -s ${TAIL_POLL} --pid="$p" -f "$R/stderr"`;
  const { offset: end, code, stderr } = await copyRemote(target, script, localPath, offset, onBytes, signal);
  if (code !== 0 && !signal.aborted) throw lostStream(code, stderr);
  return end;
}

/**
 * Copy what one of a run's streams holds beyond `offset`, once, without following: after a kill,
 * the lines a command printed while it was stopped (the streams' sessions were cut at the abort).
 */
export async function copyRest(target: SshTarget, leaseId: string, runId: string, stream: 'stdout' | 'stderr', localPath: string, offset: number): Promise<number> {
  const file = shellQuote(`${remoteRunDir(target, leaseId, runId)}/${stream}`);
  const { offset: end, code, stderr } = await copyRemote(target, `exec tail -c +${offset + 1} ${file}`, localPath, offset, () => {}, new AbortController().signal);
  if (code !== 0) throw lostStream(code, stderr);
  return end;
}

/**
 * Stream one remote file from `offset` into `localPath` (written at the same offsets) until the
 * remote process exits. Resolves with the new offset. SSH drops reject with a transient error.
 */
export async function followStream(
  target: SshTarget,
  remoteFile: string,
  pid: number,
  localPath: string,
  offset: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
): Promise<number> {
  const cmd = `exec tail -c +${offset + 1} -s ${TAIL_POLL} --pid=${pid} -f ${shellQuote(remoteFile)}`;
  const { offset: end, code, stderr } = await copyRemote(target, cmd, localPath, offset, onBytes, signal);
  if (code !== 0 && !signal.aborted) throw lostStream(code, stderr);
  return end;
}

/**
 * Run `remoteCommand` and copy what it prints on stdout into `localPath`, each chunk at its offset.
 * Resolves when the session ends (or is aborted) with the new offset, the exit code and stderr.
 */
function copyRemote(
  target: SshTarget,
  remoteCommand: string,
  localPath: string,
  offset: number,
  onBytes: (n: number) => void,
  signal: AbortSignal,
  stdin?: Promise<string>,
  onStderr?: (stderrSoFar: string) => void,
): Promise<{ offset: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Positional writes without O_APPEND (which Linux honours over pwrite's offset): the remote file
    // only grows, so byte N is the same whoever copies it. A superseded attempt still writing, or a
    // dead attempt's copy past the heartbeated offset, can then never duplicate or reorder output.
    const fd = openSync(localPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    let pos = offset;
    const child = spawn('ssh', [...sshBaseArgs(target), remoteCommand], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: sshEnv(target) });
    // stdin may still be on its way (the fingerprint): the session's start overlaps it. If it
    // fails, stdin just closes and the box starts nothing.
    if (stdin !== undefined) {
      child.stdin!.on('error', () => {});
      stdin.then((text) => child.stdin!.end(text), () => child.stdin!.end());
    }
    let stderr = '';
    const onAbort = () => child.kill('SIGTERM');
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (chunk: Buffer) => {
      writeSync(fd, chunk, 0, chunk.length, pos);
      pos += chunk.length;
      onBytes(chunk.length);
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString();
      onStderr?.(stderr);
    });
    let open = true;
    const closeFd = () => {
      if (open) closeSync(fd);
      open = false;
    };
    child.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      closeFd();
      reject(err);
    });
    // An abandoned session's remote command may not end soon.
    endAtExitOnceKilled(child, () => signal.aborted);
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      closeFd();
      resolve({ offset: pos, code, stderr });
    });
  });
}

function lostStream(code: number | null, stderr: string): ProviderError {
  return new ProviderError('transient', `lost the output stream (ssh exit ${code}): ${stderr.replace(/^durabox-(run|exit) .*$/gm, '').trim().slice(0, 200)}`, {
    provider: 'ssh',
    operation: 'run',
    status: code ?? undefined,
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
    // A run being started right now writes its pid within moments: wait for it rather than miss it.
    `R=${R}; i=0; while [ -d "$R" ] && [ ! -s "$R/pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done;` +
      ` p=$(cat "$R/pid" 2>/dev/null) || exit 0; [ -e "$R/exit" ] && exit 0; echo ${why} > "$R/status";` +
      // The grace period is the whole process group's: the wrapper may die at once while the
      // command still runs its TERM handler.
      ` kill -TERM -- -"$p" 2>/dev/null; i=0; while kill -0 -- -"$p" 2>/dev/null && [ $i -lt ${graceSeconds * 10} ]; do sleep 0.1; i=$((i+1)); done;` +
      // The wrapper died with the group before dropping the login cache: the killed command may
      // have changed what a login sets up (run-wrapper.ts).
      ` kill -KILL -- -"$p" 2>/dev/null; ${DROP_LOGIN_CACHE} [ -e "$R/exit" ] || echo ${code} > "$R/exit"; true`,
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
