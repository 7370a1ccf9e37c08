/**
 * What every bench needs: a private Temporal dev server (temp SQLite, free port, loopback only), a
 * `durabox worker` process on its own state dir and task queue, timed child processes, and small
 * statistics. Everything started here is stopped by `Bench.close()`; every wait is bounded.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { answers, ensureSearchAttributes, startDevArgs } from '../cli/temporal/dev-server.js';
import { freePort, sleep } from '../cli/temporal/proc.js';
import { findTemporalCli } from '../cli/temporal/temporal-binary.js';

/** dist/bench/support.js → dist/cli/main.js */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');

/** One line of the results table. Times in ms unless `unit` says otherwise. */
export interface Row {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** The floor measured in the same run, in `unit` unless `baselineUnit` says otherwise. */
  baseline?: number;
  baselineUnit?: string;
  baselineLabel?: string;
  /** value / baseline (or value itself for absolute targets). */
  ratio?: number;
  /** Human text, e.g. "≤ 2×" or "≥ 20/s". */
  target?: string;
  met?: boolean;
  samples?: number[];
  baselineSamples?: number[];
  note?: string;
}

export const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile, p in 0..100. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** A ratio row: value/baseline against a "≤ N×" target. */
export function ratioRow(bench: string, metric: string, samples: number[], baselineSamples: number[], baselineLabel: string, maxRatio: number, note?: string): Row {
  const value = median(samples);
  const baseline = median(baselineSamples);
  const ratio = value / baseline;
  return {
    bench,
    metric,
    value: round(value),
    unit: 'ms',
    baseline: round(baseline),
    baselineLabel,
    ratio: round(ratio, 2),
    target: `≤ ${maxRatio}×`,
    met: ratio <= maxRatio,
    samples: samples.map((x) => round(x)),
    baselineSamples: baselineSamples.map((x) => round(x)),
    note,
  };
}

export interface Timed {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** Wall-clock (Date.now()) when the child was spawned. */
  startedAt: number;
  /** Each stderr line with the wall-clock time it arrived. */
  stderrLines: { at: number; text: string }[];
}

/** Spawn, wait, time. Killed (SIGKILL) after timeoutMs so no bench can hang. */
export function timed(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; stdin?: string } = {}): Promise<Timed> {
  return new Promise((resolvePromise, reject) => {
    const startedAt = Date.now();
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const stderrLines: Timed['stderrLines'] = [];
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => {
      const at = Date.now();
      stderr += c.toString();
      partial += c.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) stderrLines.push({ at, text });
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolvePromise({ code: code ?? (sig ? 128 : 1), stdout, stderr, ms, startedAt, stderrLines });
    });
  });
}

/** timed(), and throw with the output when the exit code is not 0. */
export async function mustRun(cmd: string, args: readonly string[], opts: Parameters<typeof timed>[2] = {}): Promise<Timed> {
  const r = await timed(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.slice(0, 6).join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  return r;
}

/** Write files (path → content) under dir and make it a git repository with one commit. */
export function makeGitRepo(dir: string, files: Record<string, string> | ((write: (p: string, body: string) => void) => void)): string {
  mkdirSync(dir, { recursive: true });
  const write = (p: string, body: string) => {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), body);
  };
  if (typeof files === 'function') files(write);
  else for (const [p, body] of Object.entries(files)) write(p, body);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'b@b' };
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  execFileSync('git', ['add', '-A'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'bench tree'], { cwd: dir, env });
  return dir;
}

/** A small source tree: `n` files of a few hundred bytes in a handful of directories. */
export function smallTree(n: number): (write: (p: string, body: string) => void) => void {
  return (write) => {
    write('.gitignore', 'build/\n');
    for (let i = 0; i < n; i++) write(`src/m${i % 10}/file${i}.ts`, `export const v${i} = ${i};\n${'// filler line\n'.repeat(20)}`);
  };
}

export interface ServerHandle {
  address: string;
  /** The frontend's HTTP API, `http://127.0.0.1:<port>`. */
  httpUrl: string;
  namespace: string;
  stop(): Promise<void>;
}

/** A private `temporal server start-dev` on a free loopback port with a temp SQLite file. */
export async function startServer(dir: string): Promise<ServerHandle> {
  const binary = await findTemporalCli({ install: false });
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  const namespace = 'default';
  const logFd = openSync(join(dir, 'temporal.log'), 'a');
  // DURABOX_BENCH_DB=memory: SQLite in memory, to tell the server's disk writes apart from the rest.
  const dbFile = process.env.DURABOX_BENCH_DB === 'memory' ? undefined : join(dir, 'bench.sqlite');
  const child = spawn(binary, startDevArgs({ dbFile, port, httpPort, namespace, headless: true }), {
    cwd: dir,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = sig ?? `exit ${code}`));
  const deadline = Date.now() + 60_000;
  while (!(await answers(address, namespace, 1000))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench dev server did not start (${exited ?? 'timeout'}); see ${join(dir, 'temporal.log')}`);
    }
    await sleep(200);
  }
  await ensureSearchAttributes(address, namespace);
  return {
    address,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    namespace,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/**
 * A dev server plus one `durabox worker` process with its own state dir and task queue, and the
 * environment a CLI needs to talk to them. `close()` releases what is left and stops everything.
 */
export class Bench {
  readonly dir: string;
  readonly stateDir: string;
  readonly taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  server?: ServerHandle;
  worker?: ChildProcess;
  env: NodeJS.ProcessEnv = {};
  private client?: Client;

  constructor(readonly name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `durabox-bench-${name}-`));
    this.stateDir = join(this.dir, 'state');
    mkdirSync(this.stateDir, { mode: 0o700 });
  }

  async start(opts: { worker?: boolean } = {}): Promise<this> {
    this.server = await startServer(this.dir);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && !k.startsWith('DURABOX_')));
    this.env = {
      ...clean,
      TEMPORAL_ADDRESS: this.server.address,
      TEMPORAL_NAMESPACE: this.server.namespace,
      // As a fleet's CLIs are told where the cluster's HTTP API is.
      DURABOX_TEMPORAL_HTTP: this.server.httpUrl,
      DURABOX_STATE_DIR: this.stateDir,
      DURABOX_TASK_QUEUE: this.taskQueue,
      DURABOX_CONFIG: join(this.dir, 'no-user-config.yaml'),
    };
    if (opts.worker !== false) await this.startWorker();
    return this;
  }

  async startWorker(): Promise<void> {
    const ready = join(this.stateDir, 'worker', 'ready');
    rmSync(ready, { force: true });
    const logFd = openSync(join(this.dir, 'worker.log'), 'a');
    const child = spawn(process.execPath, [CLI, 'worker'], { env: this.env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    this.worker = child;
    const deadline = Date.now() + 60_000;
    while (!(existsSync(ready) && readFileSync(ready, 'utf8').trim() === String(child.pid))) {
      if (child.exitCode !== null) throw new Error(`worker exited early; see ${join(this.dir, 'worker.log')}`);
      if (Date.now() > deadline) throw new Error('worker did not become ready within 60 s');
      await sleep(100);
    }
  }

  async connect(): Promise<Client> {
    this.client ??= new Client({ connection: await Connection.connect({ address: this.server!.address }), namespace: this.server!.namespace });
    return this.client;
  }

  /** The built CLI with this bench's environment. */
  cli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
    return timed(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...this.env, ...opts.env }, timeoutMs: opts.timeoutMs ?? 300_000 });
  }

  async mustCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
    const r = await this.cli(args, opts);
    if (r.code !== 0) throw new Error(`durabox ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(-800)} ${r.stdout.trim().slice(-800)}`);
    return r;
  }

  async close(): Promise<void> {
    // Kept leases first, so their boxes go away through the normal release path.
    const boxes = join(this.stateDir, 'boxes');
    const leases = existsSync(boxes) ? readdirSync(boxes).filter((n) => n.startsWith('dbx_')) : [];
    if (this.worker && this.worker.exitCode === null) {
      for (const id of leases) await this.cli(['-q', 'stop', id], { timeoutMs: 30_000 }).catch(() => undefined);
    }
    await this.client?.connection.close().catch(() => undefined);
    if (this.worker && this.worker.exitCode === null) {
      this.worker.kill('SIGTERM');
      for (let i = 0; i < 100 && this.worker.exitCode === null && this.worker.signalCode === null; i++) await sleep(100);
      if (this.worker.exitCode === null && this.worker.signalCode === null) this.worker.kill('SIGKILL');
    }
    killLeftoverSshds(boxes);
    await this.server?.stop();
    if (!process.env.DURABOX_BENCH_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Any sshd a box of ours still runs (a failed bench): only pids whose argv names our box config. */
function killLeftoverSshds(boxes: string): void {
  if (!existsSync(boxes)) return;
  for (const name of readdirSync(boxes)) {
    const pidFile = join(boxes, name, 'sshd.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (argv.includes(join(boxes, name, 'etc', 'sshd_config'))) process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
}

/** Run `fn` with a started Bench and always close it. */
export async function withBench<T>(name: string, opts: { worker?: boolean }, fn: (b: Bench) => Promise<T>): Promise<T> {
  const b = new Bench(name);
  try {
    log(`${name}: starting dev server${opts.worker === false ? '' : ' and worker'} in ${b.dir}`);
    await b.start(opts);
    return await fn(b);
  } finally {
    await b.close();
  }
}

/** The lease's SSH target as the CLI reports it (`durabox status L --json`). */
export interface TargetFacts {
  user: string;
  host: string;
  port: number;
  keyPath: string;
  hostKeyAlias: string;
}

/**
 * `ssh` argv to the lease's sshd by hand: the lease's own key and known_hosts, a fresh connection
 * (no ControlMaster) unless `multiplexed`, then the remote command.
 */
export function handSshArgs(stateDir: string, leaseId: string, t: TargetFacts, opts: { multiplexed?: string } = {}): string[] {
  const kh = join(stateDir, 'leases', leaseId, 'known_hosts');
  return [
    '-F', 'none', '-i', t.keyPath, '-p', String(t.port),
    '-o', `User=${t.user}`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', `HostKeyAlias=${t.hostKeyAlias}`, '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=none',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR',
    ...(opts.multiplexed
      ? ['-o', 'ControlMaster=auto', '-o', 'ControlPersist=10s', '-o', `ControlPath=${opts.multiplexed}`]
      : ['-o', 'ControlMaster=no', '-o', 'ControlPath=none']),
    t.host,
  ];
}

export interface HistoryEvent {
  id: number;
  type: string;
  /** Server time of the event, ms since the epoch. */
  at: number;
  /** ACTIVITY_TASK_SCHEDULED: the activity type. */
  activity?: string;
  /** ACTIVITY_TASK_STARTED/COMPLETED/FAILED: the id of the scheduled event. */
  scheduledId?: number;
  /** Update events: the update id (durabox uses the run id). */
  updateId?: string;
}

/** A workflow's history as event types and server times. */
export async function historyEvents(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const out: HistoryEvent[] = [];
  for (const e of h.events ?? []) {
    const ts = e.eventTime;
    const at = ts ? Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6) : 0;
    const ev: HistoryEvent = { id: Number(e.eventId ?? 0), type: eventTypeName(e.eventType as unknown as number | string), at };
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched) ev.activity = sched.activityType?.name ?? undefined;
    const ref = e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (ref?.scheduledEventId) ev.scheduledId = Number(ref.scheduledEventId);
    const upd =
      e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId ??
      e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId ??
      e.workflowExecutionUpdateAdmittedEventAttributes?.request?.meta?.updateId;
    if (upd) ev.updateId = upd;
    out.push(ev);
  }
  return out;
}

/** Scheduled → completed time of the first activity of `type` in `events` (ms), and its bounds. */
/** Total time of every activity of this type (a stale-tree run attempt, then the real one). */
export function activityTime(events: HistoryEvent[], type: string): number {
  let ms = 0;
  for (const s of events.filter((e) => e.type === 'ACTIVITY_TASK_SCHEDULED' && e.activity === type)) {
    const c = events.find((e) => (e.type === 'ACTIVITY_TASK_COMPLETED' || e.type === 'ACTIVITY_TASK_FAILED') && e.scheduledId === s.id);
    if (c) ms += c.at - s.at;
  }
  return ms;
}

export function activitySpan(events: HistoryEvent[], type: string): { scheduled: number; completed: number; ms: number } | undefined {
  const s = events.find((e) => e.type === 'ACTIVITY_TASK_SCHEDULED' && e.activity === type);
  if (!s) return undefined;
  const c = events.find((e) => (e.type === 'ACTIVITY_TASK_COMPLETED' || e.type === 'ACTIVITY_TASK_FAILED') && e.scheduledId === s.id);
  if (!c) return undefined;
  return { scheduled: s.at, completed: c.at, ms: c.at - s.at };
}

function eventTypeName(t: number | string): string {
  if (typeof t === 'string') return t.replace(/^EVENT_TYPE_/, '');
  return EVENT_TYPES[t] ?? `type-${t}`;
}

/** temporal.api.enums.v1.EventType numbers (checked against @temporalio/proto 1.24). */
const EVENT_TYPES: Record<number, string> = {
  1: 'WORKFLOW_EXECUTION_STARTED',
  2: 'WORKFLOW_EXECUTION_COMPLETED',
  3: 'WORKFLOW_EXECUTION_FAILED',
  4: 'WORKFLOW_EXECUTION_TIMED_OUT',
  5: 'WORKFLOW_TASK_SCHEDULED',
  6: 'WORKFLOW_TASK_STARTED',
  7: 'WORKFLOW_TASK_COMPLETED',
  8: 'WORKFLOW_TASK_TIMED_OUT',
  9: 'WORKFLOW_TASK_FAILED',
  10: 'ACTIVITY_TASK_SCHEDULED',
  11: 'ACTIVITY_TASK_STARTED',
  12: 'ACTIVITY_TASK_COMPLETED',
  13: 'ACTIVITY_TASK_FAILED',
  14: 'ACTIVITY_TASK_TIMED_OUT',
  15: 'ACTIVITY_TASK_CANCEL_REQUESTED',
  16: 'ACTIVITY_TASK_CANCELED',
  17: 'TIMER_STARTED',
  18: 'TIMER_FIRED',
  19: 'TIMER_CANCELED',
  26: 'WORKFLOW_EXECUTION_SIGNALED',
  28: 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
  40: 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
  41: 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
  42: 'WORKFLOW_EXECUTION_UPDATE_REJECTED',
  43: 'WORKFLOW_EXECUTION_UPDATE_COMPLETED',
  44: 'WORKFLOW_PROPERTIES_MODIFIED_EXTERNALLY',
  46: 'WORKFLOW_PROPERTIES_MODIFIED',
  47: 'WORKFLOW_EXECUTION_UPDATE_ADMITTED',
};

/** Write JSON somewhere under bench/results (gitignored). */
export function resultsDir(): string {
  // dist/bench/support.js → <repo>/bench/results
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Repetitions: DURABOX_BENCH_REPS overrides the default. */
export function reps(fallback: number): number {
  const n = Number(process.env.DURABOX_BENCH_REPS);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
