/**
 * The embedded default Temporal: `temporal server start-dev` with a SQLite file under the state
 * dir, started detached so it outlives the CLI, and reused by every later command.
 *
 * Files in temporalDir(): server.pid, server.json (ports, binary, db), server.log, durabox.sqlite.
 * A pid file is never trusted on its own: the process must be alive, be a `temporal ... start-dev`
 * of the recorded binary, and answer gRPC.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporalDir } from '../../providers/common/state-dir.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/lease-names.js';
import type { Connection as GrpcConnection } from '@temporalio/client';
import { TemporalHttpApi } from './http-api.js';
import { findTemporalCli } from './temporal-binary.js';
import { freePort, isAlive, portIsFree, processMatches, readPid, sleep, terminate, withLock } from './proc.js';

export {
  ensureBackgroundWorker,
  stopBackgroundWorker,
  workerStatus,
  type BackgroundWorkerOptions,
  type WorkerStatus,
} from './background-worker.js';

export const DEFAULT_PORT = 7233;
export const DEFAULT_UI_PORT = 8233;
/** Temporal's own default for the frontend's HTTP API. */
export const DEFAULT_HTTP_PORT = 7243;
const READY_TIMEOUT_MS = 30_000;

export interface DevServerOptions {
  /** gRPC port; default `DURABOX_TEMPORAL_PORT` or 7233. */
  port?: number;
  /** Web UI port; default `DURABOX_UI_PORT` or 8233. */
  uiPort?: number;
  /** HTTP API port; default `DURABOX_TEMPORAL_HTTP_PORT` or 7243. */
  httpPort?: number;
  namespace?: string;
  /** Allow `go install` of the CLI when it is missing (default true). */
  install?: boolean;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface DevServerInfo {
  address: string;
  namespace: string;
  uiUrl: string;
  /** The frontend's HTTP API (`http://127.0.0.1:<port>`); absent for a server started before it was recorded. */
  httpUrl?: string;
  started: boolean;
}

/** What server.json records about the server we started. */
export interface DevServerState {
  pid: number;
  binary: string;
  address: string;
  namespace: string;
  port: number;
  uiPort: number;
  uiUrl: string;
  /** Absent in state files written before the HTTP port was chosen by us. */
  httpPort?: number;
  dbFile: string;
  logFile: string;
  startedAt: string;
}

export interface DevServerStatus {
  running: boolean;
  /** Running and answered a gRPC call just now. */
  answering: boolean;
  pid?: number;
  address?: string;
  namespace?: string;
  uiUrl?: string;
  httpUrl?: string;
  dbFile: string;
  logFile: string;
  /** A pid file named a process that is gone or is not our server. */
  stalePid?: number;
}

const paths = () => {
  const dir = temporalDir();
  return {
    dir,
    pidFile: join(dir, 'server.pid'),
    stateFile: join(dir, 'server.json'),
    lockFile: join(dir, 'server.lock'),
    logFile: join(dir, 'server.log'),
    dbFile: join(dir, 'durabox.sqlite'),
  };
};

/**
 * `temporal server start-dev` arguments, checked against CLI v1.5.1. Search attributes given here
 * are registered only when the SQLite file is new (a restart silently ignores added ones), so
 * `ensureSearchAttributes` also runs after every start.
 */
export function startDevArgs(o: { dbFile?: string; port: number; httpPort: number; uiPort?: number; namespace?: string; headless?: boolean }): string[] {
  const args = ['server', 'start-dev'];
  if (o.dbFile) {
    // Write-ahead log with synchronous=NORMAL: a transaction is one WAL append instead of a rollback
    // journal and several fsyncs. The file stays consistent and a server, worker or CLI crash loses
    // nothing committed; only an OS crash or power loss may roll back the last transactions, which
    // leaves at worst an orphaned box that the cleanup schedule finds by its ownership marker.
    args.push('--db-filename', o.dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  // The HTTP port is ours to choose (the server's default is a random one) and server.json keeps it.
  args.push('--port', String(o.port), '--http-port', String(o.httpPort), '--ip', '127.0.0.1', '--log-level', 'warn');
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort ?? o.port + 1000));
  args.push('--namespace', o.namespace ?? 'default');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  args.push(
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    // The dev server turns this on so a newly created search attribute is usable at once; it makes
    // every search-attribute type lookup (each upsert, each visibility write) re-read the cluster
    // metadata from SQLite. With SQL visibility that map is fixed at setup (a created attribute is
    // a namespace alias, refreshed by the namespace registry), so the re-reads buy nothing here.
    // Measured: bench 5 from 10.7 to 15.9 leases/s.
    '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=false',
  );
  return args;
}

export async function ensureDevServer(opts: DevServerOptions = {}): Promise<DevServerInfo> {
  const p = paths();
  return withLock(p.lockFile, 60_000, async () => {
    const state = readState(p.stateFile);
    const pid = readPid(p.pidFile);
    if (state && pid === state.pid && isOurServer(pid, state.binary)) {
      // Ours and alive; it may still be starting (another CLI launched it a moment ago).
      const httpUrl = httpUrlOf(state);
      // Over HTTP when we can: these two checks are all this command may need of Temporal, and the
      // gRPC client costs far more to load than they take.
      if (!(httpUrl && (await readyOverHttp(httpUrl, state.namespace)))) {
        await waitUntilAnswering(state, opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
        await ensureSearchAttributes(state.address, state.namespace);
      }
      return { address: state.address, namespace: state.namespace, uiUrl: state.uiUrl, httpUrl, started: false };
    }
    const port = opts.port ?? envPort('DURABOX_TEMPORAL_PORT', DEFAULT_PORT);
    const uiPort = opts.uiPort ?? envPort('DURABOX_UI_PORT', DEFAULT_UI_PORT);
    let httpPort = opts.httpPort ?? envPort('DURABOX_TEMPORAL_HTTP_PORT', DEFAULT_HTTP_PORT);
    // The HTTP API is optional and found through server.json: when nobody asked for a port and the
    // default one is taken, any free port does.
    const httpPortChosen = opts.httpPort !== undefined || !!process.env.DURABOX_TEMPORAL_HTTP_PORT;
    if (!httpPortChosen && !(await portIsFree(httpPort))) httpPort = await freePort();
    const namespace = opts.namespace ?? 'default';
    const ports = [
      ['gRPC', port, 'DURABOX_TEMPORAL_PORT'],
      ['HTTP API', httpPort, 'DURABOX_TEMPORAL_HTTP_PORT'],
      ['Web UI', uiPort, 'DURABOX_UI_PORT'],
    ] as const;
    if (new Set(ports.map(([, n]) => n)).size !== ports.length) {
      throw new Error(`the gRPC, HTTP API and Web UI ports must differ (${ports.map(([w, n]) => `${w} ${n}`).join(', ')})`);
    }
    for (const [what, n, envName] of ports) {
      if (!(await portIsFree(n))) {
        throw new Error(`port ${n} (Temporal ${what}) is already in use by another program; stop it or set ${envName} to a free port`);
      }
    }
    // Only now, with the ports known free, is a leftover pid/state pair certainly stale.
    rmSync(p.pidFile, { force: true });
    rmSync(p.stateFile, { force: true });
    const binary = await findTemporalCli({ install: opts.install, log: opts.log });
    const args = startDevArgs({ dbFile: p.dbFile, port, httpPort, uiPort, namespace });

    const logFd = openSync(p.logFile, 'a', 0o600);
    let exited: string | undefined;
    let childPid: number;
    try {
      writeFileSync(logFd, `\n--- ${new Date().toISOString()} durabox: ${binary} ${args.join(' ')}\n`);
      const child = spawn(binary, args, {
        cwd: p.dir,
        detached: true, // own process group: Ctrl-C on the CLI must not stop the server
        stdio: ['ignore', logFd, logFd],
        env: withoutTemporalEnv(process.env),
      });
      child.on('error', (err) => (exited = err.message));
      child.on('exit', (code, sig) => (exited = sig ? `killed by ${sig}` : `exit code ${code}`));
      child.unref();
      if (child.pid === undefined) throw new Error(`could not start ${binary}; see ${p.logFile}`);
      childPid = child.pid;
    } finally {
      closeSync(logFd);
    }

    const state2: DevServerState = {
      pid: childPid,
      binary,
      address: `127.0.0.1:${port}`,
      namespace,
      port,
      uiPort,
      uiUrl: `http://127.0.0.1:${uiPort}`,
      httpPort,
      dbFile: p.dbFile,
      logFile: p.logFile,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(p.stateFile, JSON.stringify(state2, null, 2) + '\n', { mode: 0o600 });
    writeFileSync(p.pidFile, `${childPid}\n`, { mode: 0o600 });
    opts.log?.(`started Temporal dev server (pid ${childPid}) on ${state2.address}, db ${p.dbFile}`);

    try {
      await waitUntilAnswering(state2, opts.readyTimeoutMs ?? READY_TIMEOUT_MS, () => exited);
      await ensureSearchAttributes(state2.address, namespace);
    } catch (err) {
      // Leave nothing half-started behind: the next attempt starts clean.
      await terminate(childPid, 5000);
      rmSync(p.pidFile, { force: true });
      rmSync(p.stateFile, { force: true });
      throw err;
    }
    return { address: state2.address, namespace, uiUrl: state2.uiUrl, httpUrl: httpUrlOf(state2), started: true };
  });
}

export async function devServerStatus(): Promise<DevServerStatus> {
  const p = paths();
  const state = readState(p.stateFile);
  const pid = readPid(p.pidFile);
  const base = { dbFile: state?.dbFile ?? p.dbFile, logFile: p.logFile };
  if (pid === undefined) return { ...base, running: false, answering: false };
  if (!state || state.pid !== pid || !isOurServer(pid, state.binary)) {
    return { ...base, running: false, answering: false, stalePid: pid };
  }
  const answering = await answers(state.address, state.namespace, 2000);
  const httpUrl = httpUrlOf(state);
  return { ...base, running: true, answering, pid, address: state.address, namespace: state.namespace, uiUrl: state.uiUrl, httpUrl };
}

/** Stop the server we started. A stale pid file is removed without signalling anyone. */
export async function stopDevServer(opts: { graceMs?: number } = {}): Promise<{ stopped: boolean; pid?: number; forced?: boolean }> {
  const p = paths();
  return withLock(p.lockFile, 60_000, async () => {
    const state = readState(p.stateFile);
    const pid = readPid(p.pidFile);
    let result: { stopped: boolean; pid?: number; forced?: boolean } = { stopped: false };
    if (pid !== undefined && state && state.pid === pid && isOurServer(pid, state.binary)) {
      const how = await terminate(pid, opts.graceMs ?? 10_000);
      result = { stopped: true, pid, forced: how === 'killed' };
    }
    rmSync(p.pidFile, { force: true });
    rmSync(p.stateFile, { force: true });
    return result;
  });
}

/** temporal.api.enums.v1.IndexedValueType, by the names the CLI uses. */
const INDEXED_VALUE_TYPE: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/**
 * Register every SEARCH_ATTRIBUTES entry that the namespace lacks. Safe to repeat; a name that
 * exists with another type is an error because queries would silently misbehave.
 */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  const conn = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace });
    const missing: Record<string, number> = {};
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      const want = INDEXED_VALUE_TYPE[type];
      const have = customAttributes?.[name];
      if (have === undefined || have === null) missing[name] = want;
      else if (have !== want) {
        const haveName = Object.keys(INDEXED_VALUE_TYPE).find((k) => INDEXED_VALUE_TYPE[k] === have) ?? `type ${have}`;
        throw new Error(`search attribute ${name} exists in namespace ${namespace} as ${haveName}, expected ${type}; use a fresh state dir or rename it`);
      }
    }
    if (Object.keys(missing).length > 0) {
      await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** One cheap round trip that also proves the namespace exists. */
export async function answers(address: string, namespace: string, timeoutMs: number): Promise<boolean> {
  const { Connection } = await import('@temporalio/client');
  let conn: GrpcConnection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    const c = conn;
    await c.withDeadline(Date.now() + timeoutMs, () => c.workflowService.describeNamespace({ namespace }));
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/**
 * The running server answers over HTTP and already has every search attribute with its type. False
 * sends the caller down the gRPC path, which waits for a starting server and adds what is missing.
 */
async function readyOverHttp(httpUrl: string, namespace: string): Promise<boolean> {
  const api = new TemporalHttpApi(new URL(httpUrl), namespace);
  try {
    // Short: a server that does not answer at once goes the gRPC way, which waits properly.
    const have = await api.searchAttributes(2000);
    return Object.entries(SEARCH_ATTRIBUTES).every(([name, type]) => have[name] === `INDEXED_VALUE_TYPE_${type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`);
  } catch {
    return false;
  } finally {
    api.close();
  }
}

async function waitUntilAnswering(state: DevServerState, timeoutMs: number, exited?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answers(state.address, state.namespace, 1000)) return;
    const why = exited?.() ?? (isAlive(state.pid) ? undefined : 'process is gone');
    if (why) throw new Error(`Temporal dev server exited during startup (${why})${lastLogLine(state.logFile)}; see ${state.logFile}`);
    if (Date.now() > deadline) {
      throw new Error(`Temporal dev server (pid ${state.pid}) did not answer on ${state.address} within ${Math.round(timeoutMs / 1000)} s; see ${state.logFile}`);
    }
    await sleep(250);
  }
}

function isOurServer(pid: number, binary: string): boolean {
  return processMatches(pid, [binary, 'start-dev']);
}

/** The server's HTTP API, when its state file records the port (servers started before it did not). */
function httpUrlOf(state: DevServerState): string | undefined {
  return state.httpPort ? `http://127.0.0.1:${state.httpPort}` : undefined;
}

function readState(file: string): DevServerState | undefined {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as DevServerState;
    return typeof s.pid === 'number' && typeof s.address === 'string' && typeof s.binary === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}=${raw} is not a valid port number`);
  return n;
}

/** TEMPORAL_* variables configure CLI clients; keep the user's client settings away from the server. */
function withoutTemporalEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

/** `: <last log line>` (trimmed) so the one-line error usually names the cause. */
function lastLogLine(logFile: string): string {
  try {
    const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    const last = lines.at(-1)?.trim();
    if (!last || last.startsWith('--- ')) return '';
    return `: ${last.length > 200 ? `${last.slice(0, 200)}…` : last}`;
  } catch {
    return '';
  }
}
