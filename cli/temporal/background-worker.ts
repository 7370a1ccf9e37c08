/**
 * The background worker: `node dist/cli/main.js worker`, detached so leases keep being served
 * after the CLI exits. Files in workerDir(): worker.pid, worker.json (what it serves),
 * worker.log, and `ready`, which the worker writes (its pid) once Worker.create succeeded.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir, workerDir } from '../../providers/common/state-dir.js';
import { distFile } from '../package-paths.js';
import { isAlive, processMatches, readPid, sleep, terminate, withLock } from './proc.js';

const READY_TIMEOUT_MS = 60_000;

export interface BackgroundWorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  /** Entry point to run; default dist/cli/main.js next to this module's compiled file. */
  mainScript?: string;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface WorkerStatus {
  running: boolean;
  /** The worker wrote its ready marker (it is polling). */
  ready: boolean;
  pid?: number;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  logFile: string;
  stalePid?: number;
}

interface WorkerState {
  pid: number;
  address: string;
  namespace: string;
  taskQueue: string;
  mainScript: string;
  /** The build it runs (its entry's mtime and size): a rebuilt CLI replaces a worker of another. */
  build?: string;
  startedAt: string;
}

const paths = () => {
  const dir = workerDir();
  return {
    dir,
    pidFile: join(dir, 'worker.pid'),
    stateFile: join(dir, 'worker.json'),
    lockFile: join(dir, 'worker.lock'),
    logFile: join(dir, 'worker.log'),
    readyFile: join(dir, 'ready'),
  };
};

/** The CLI's built entry point, dist/cli/main.js (from TypeScript sources too: the same checkout's build). */
export function defaultMainScript(): string {
  return distFile('cli/main.js');
}

export async function ensureBackgroundWorker(opts: BackgroundWorkerOptions): Promise<{ pid: number; started: boolean }> {
  const p = paths();
  return withLock(p.lockFile, 90_000, async () => {
    const timeout = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
    const pid = readPid(p.pidFile);
    const state = readState(p.stateFile);
    const mainScript = opts.mainScript ?? defaultMainScript();
    if (!existsSync(mainScript)) throw new Error(`durabox worker entry point ${mainScript} is missing; run \`npm run build\``);
    const build = buildOf(mainScript);
    if (pid !== undefined && isOurWorker(pid)) {
      const same = state && state.pid === pid && sameTarget(state, opts);
      if (same && state.build === build) {
        await waitUntilReady(pid, p.readyFile, p.logFile, timeout);
        return { pid, started: false };
      }
      // Serving another server or queue: replace it rather than leave leases on the wrong one. A
      // worker of an earlier build is replaced too: its lazily loaded chunks may be gone, and its
      // code is not the CLI's. Runs reattach on the new worker (same worker id, same queue).
      opts.log?.(same ? `restarting the background worker (pid ${pid}): durabox was rebuilt` : `restarting the background worker (pid ${pid}) for ${opts.address} / ${opts.taskQueue}`);
      await terminate(pid, 15_000);
    }
    for (const f of [p.pidFile, p.stateFile, p.readyFile]) rmSync(f, { force: true });

    const logFd = openSync(p.logFile, 'a', 0o600);
    let exited: string | undefined;
    let childPid: number;
    try {
      writeFileSync(logFd, `\n--- ${new Date().toISOString()} durabox: worker for ${opts.address} namespace ${opts.namespace} queue ${opts.taskQueue}\n`);
      const child = spawn(process.execPath, [mainScript, 'worker'], {
        // Not the user's cwd: a daemon must not pin (or depend on) whatever directory it began in.
        cwd: p.dir,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: {
          // The user's other TEMPORAL_* settings (TLS, API key) belong to some other cluster, and so
          // does a cluster's HTTP API address.
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && k !== 'DURABOX_TEMPORAL_HTTP')),
          DURABOX_STATE_DIR: stateDir(),
          TEMPORAL_ADDRESS: opts.address,
          TEMPORAL_NAMESPACE: opts.namespace,
          DURABOX_TASK_QUEUE: opts.taskQueue,
        },
      });
      child.on('error', (err) => (exited = err.message));
      child.on('exit', (code, sig) => (exited = sig ? `killed by ${sig}` : `exit code ${code}`));
      child.unref();
      if (child.pid === undefined) throw new Error(`could not start the durabox worker; see ${p.logFile}`);
      childPid = child.pid;
    } finally {
      closeSync(logFd);
    }
    const state2: WorkerState = {
      pid: childPid,
      address: opts.address,
      namespace: opts.namespace,
      taskQueue: opts.taskQueue,
      mainScript,
      build,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(p.stateFile, JSON.stringify(state2, null, 2) + '\n', { mode: 0o600 });
    writeFileSync(p.pidFile, `${childPid}\n`, { mode: 0o600 });
    opts.log?.(`started background worker (pid ${childPid}) on task queue ${opts.taskQueue}`);
    try {
      await waitUntilReady(childPid, p.readyFile, p.logFile, timeout, () => exited);
    } catch (err) {
      await terminate(childPid, 5000);
      for (const f of [p.pidFile, p.stateFile, p.readyFile]) rmSync(f, { force: true });
      throw err;
    }
    return { pid: childPid, started: true };
  });
}

export async function workerStatus(): Promise<WorkerStatus> {
  const p = paths();
  const pid = readPid(p.pidFile);
  if (pid === undefined) return { running: false, ready: false, logFile: p.logFile };
  if (!isOurWorker(pid)) return { running: false, ready: false, logFile: p.logFile, stalePid: pid };
  const state = readState(p.stateFile);
  return {
    running: true,
    ready: readPid(p.readyFile) === pid,
    pid,
    address: state?.address,
    namespace: state?.namespace,
    taskQueue: state?.taskQueue,
    logFile: p.logFile,
  };
}

/** Stop the worker we started; a stale pid file is removed without signalling anyone. */
export async function stopBackgroundWorker(opts: { graceMs?: number } = {}): Promise<{ stopped: boolean; pid?: number; forced?: boolean }> {
  const p = paths();
  return withLock(p.lockFile, 90_000, async () => {
    const pid = readPid(p.pidFile);
    let result: { stopped: boolean; pid?: number; forced?: boolean } = { stopped: false };
    if (pid !== undefined && isOurWorker(pid)) {
      const how = await terminate(pid, opts.graceMs ?? 15_000);
      result = { stopped: true, pid, forced: how === 'killed' };
    }
    for (const f of [p.pidFile, p.stateFile, p.readyFile]) rmSync(f, { force: true });
    return result;
  });
}

async function waitUntilReady(pid: number, readyFile: string, logFile: string, timeoutMs: number, exited?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (readPid(readyFile) === pid) return;
    let why = exited?.() ?? (isAlive(pid) ? undefined : 'process is gone');
    // Our own child can look gone (a zombie) before Node delivers its exit event: wait for the
    // event briefly so the message carries the real exit code.
    for (let i = 0; exited && why === 'process is gone' && i < 20; i++) {
      await sleep(50);
      why = exited() ?? why;
    }
    if (why) throw new Error(`durabox worker exited during startup (${why}); see ${logFile}`);
    if (Date.now() > deadline) {
      throw new Error(`durabox worker (pid ${pid}) was not polling within ${Math.round(timeoutMs / 1000)} s; see ${logFile}`);
    }
    await sleep(200);
  }
}

function isOurWorker(pid: number): boolean {
  return processMatches(pid, ['main.js', 'worker']);
}

function buildOf(mainScript: string): string {
  const st = statSync(mainScript);
  return `${st.mtimeMs}:${st.size}`;
}

function sameTarget(s: WorkerState, o: BackgroundWorkerOptions): boolean {
  return s.address === o.address && s.namespace === o.namespace && s.taskQueue === o.taskQueue;
}

function readState(file: string): WorkerState | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as WorkerState;
    return typeof s.pid === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}
