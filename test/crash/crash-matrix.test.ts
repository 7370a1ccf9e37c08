/**
 * The crash matrix (`npm run test:crash`; part of `npm test`). Through the built CLI and real worker
 * processes on the local provider, a worker is SIGKILLed at each point of a lease's life and a new
 * worker is started with the same state dir (same worker id, so the same per-worker task queue):
 *
 *   after-create  the provider made the box, createBox has not returned
 *   wait-ready    inside waitBoxReady
 *   sync          inside syncWorkdir
 *   mid-run       the command is running and has printed part of its output
 *   release       inside releaseBox
 *
 * and once the Temporal dev server itself (a private one: same port, same SQLite file) is killed
 * with -9 and restarted while the command runs.
 *
 * For every case: the command ran exactly once (it appends to a counter file), its exit code reached
 * the workflow and the CLI, the full output is in the worker's local run log and on the CLI exactly
 * once per line, exactly one box existed for the lease (one createBox completion; one box identity
 * ever seen on disk), the box was released exactly once with the lease's action (one releaseBox
 * completion; the box directory is gone), and the lease ended `released`.
 *
 * Activity heartbeat timeouts are 15 s, so every kill costs ~20 s: all cases run at once, each with
 * its own harness (state dir, task queue), and each `it` checks what its case observed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { answers, ensureSearchAttributes, startDevArgs } from '../../cli/temporal/dev-server.js';
import { freePort, sleep } from '../../cli/temporal/proc.js';
import { findTemporalCli } from '../../cli/temporal/temporal-binary.js';
import type { LeaseSummary } from '../../workflows/messages.js';
import { CliHarness, makeRepo, type CliResult } from '../support/cli-harness.js';

type HoldPoint = 'after-create' | 'wait-ready' | 'sync' | 'release';
const HOLD_POINTS: HoldPoint[] = ['after-create', 'wait-ready', 'sync', 'release'];
type CaseName = HoldPoint | 'mid-run' | 'server-restart';

const EXIT = 7;

interface ActivityFacts {
  scheduled: number;
  completed: number;
  /** Highest attempt number a started event recorded (> 1 means the kill forced a retry). */
  maxAttempt: number;
  results: unknown[];
}

interface Observation {
  cli: CliResult;
  lines: number;
  counter: string;
  localStdout: string;
  localStderr: string;
  summary: LeaseSummary;
  activities: Record<string, ActivityFacts>;
  boxUids: string[];
  boxDirs: string[];
  boxDirLeft: boolean;
  ms: number;
}

const cleanups: Array<() => Promise<void> | void> = [];
const results = new Map<CaseName, Promise<Observation>>();

/** The command: count the run, print numbered lines on both streams, exit 7. */
function script(counter: string, lines: number, delay: string): string[] {
  return [
    'sh', '-c',
    `echo ran >> ${counter}; i=1; while [ $i -le ${lines} ]; do echo out-$i; echo err-$i >&2; sleep ${delay}; i=$((i+1)); done; exit ${EXIT}`,
  ];
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Decode an activity result payload (JSON converter) from a history event. */
function payloadJson(p: { data?: Uint8Array | null } | undefined): unknown {
  if (!p?.data) return undefined;
  try {
    return JSON.parse(Buffer.from(p.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

async function activityFacts(h: CliHarness, workflowId: string): Promise<Record<string, ActivityFacts>> {
  const client = await h.connect();
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byScheduled = new Map<string, string>();
  const facts: Record<string, ActivityFacts> = {};
  const get = (name: string) => (facts[name] ??= { scheduled: 0, completed: 0, maxAttempt: 0, results: [] });
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) {
      const name = e.activityTaskScheduledEventAttributes.activityType?.name ?? '?';
      byScheduled.set(id, name);
      get(name).scheduled++;
    } else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      const f = get(byScheduled.get(String(a.scheduledEventId)) ?? '?');
      f.maxAttempt = Math.max(f.maxAttempt, a.attempt ?? 0);
    } else if (e.activityTaskCompletedEventAttributes) {
      const a = e.activityTaskCompletedEventAttributes;
      const f = get(byScheduled.get(String(a.scheduledEventId)) ?? '?');
      f.completed++;
      f.results.push(payloadJson(a.result?.payloads?.[0] ?? undefined));
    }
  }
  return facts;
}

/** Every box directory and box identity (boxUid) that ever appears under the harness's state dir. */
function watchBoxes(stateDir: string) {
  const dirs = new Set<string>();
  const uids = new Set<string>();
  const boxes = join(stateDir, 'boxes');
  const look = () => {
    if (!existsSync(boxes)) return;
    for (const d of readdirSync(boxes)) {
      if (d.startsWith('.')) continue; // lock files
      dirs.add(d);
      try {
        uids.add(JSON.parse(readFileSync(join(boxes, d, 'box.json'), 'utf8')).boxUid);
      } catch {
        // not written yet, or gone
      }
    }
  };
  const timer = setInterval(look, 50);
  return {
    stop: () => (clearInterval(timer), look(), { dirs: [...dirs], uids: [...uids] }),
  };
}

const runIdIn = (stateDir: string) => {
  const dir = join(stateDir, 'runs');
  return existsSync(dir) ? readdirSync(dir)[0] : undefined;
};
const readOr = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');

/**
 * One case: a harness of its own, a `durabox run` on a new lease, and `disrupt` doing the killing
 * once the CLI is under way. Returns what happened; the `it` blocks judge it.
 */
async function scenario(
  address: string,
  namespace: string,
  opts: { lines: number; delay: string; hold?: HoldPoint; disrupt: (ctx: { h: CliHarness; holdDir: string; worker: ChildProcess; restartWorker: () => Promise<ChildProcess> }) => Promise<void> },
): Promise<Observation> {
  const started = Date.now();
  const h = new CliHarness(address, namespace);
  const holdDir = mkdtempSync(join(tmpdir(), 'dbx-hold-'));
  const work = mkdtempSync(join(tmpdir(), 'dbx-crash-'));
  cleanups.push(async () => {
    await h.stop();
    h.cleanup();
    rmSync(holdDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  // Only the point under test holds; every other point is open from the start.
  for (const p of HOLD_POINTS) if (p !== opts.hold) writeFileSync(join(holdDir, `${p}.go`), '');
  const workerEnv = { DURABOX_TEST_HOLD_DIR: holdDir };
  const worker = await h.startWorker(workerEnv);
  const boxes = watchBoxes(h.stateDir);

  const counter = join(work, 'counter');
  const cli = h.start(['--json', 'run', '--', ...script(counter, opts.lines, opts.delay)], { cwd: makeRepo() });
  try {
    await opts.disrupt({ h, holdDir, worker, restartWorker: () => h.startWorker(workerEnv) });
  } catch (err) {
    cli.child.kill('SIGKILL');
    const workers = h.workerLogs.map((c, i) => `worker ${i}: ${Buffer.concat(c).toString().slice(-1500)}`).join('\n');
    throw new Error(`${(err as Error).message}; CLI so far: ${cli.text().stderr.slice(-1500)}\n${workers}`);
  }
  const cliResult = await cli.done;
  if (!cliResult.stdout.includes('{\n')) throw new Error(`CLI failed (${cliResult.code}): ${cliResult.stderr.slice(-2000)}`);
  const json = JSON.parse(cliResult.stdout.slice(cliResult.stdout.indexOf('{\n')));

  // The CLI returns with the run; release may still be going (and held): wait for the lease itself.
  const client = await h.connect();
  const summary = (await client.workflow.getHandle(json.workflowId).result()) as LeaseSummary;
  const { dirs, uids } = boxes.stop();
  const runId = runIdIn(h.stateDir)!;
  return {
    cli: cliResult,
    lines: opts.lines,
    counter: readOr(counter),
    localStdout: readOr(join(h.stateDir, 'runs', runId, 'stdout')),
    localStderr: readOr(join(h.stateDir, 'runs', runId, 'stderr')),
    summary,
    activities: await activityFacts(h, json.workflowId),
    boxUids: uids,
    boxDirs: dirs,
    boxDirLeft: existsSync(join(h.stateDir, 'boxes', json.leaseId)),
    ms: Date.now() - started,
  };
}

/** SIGKILL the worker once the activity is held at `point`, open the point, start a new worker. */
function killAtHold(point: HoldPoint) {
  return async ({ holdDir, worker, restartWorker }: { holdDir: string; worker: ChildProcess; restartWorker: () => Promise<ChildProcess> }) => {
    await waitUntil(`${point}.reached`, () => existsSync(join(holdDir, `${point}.reached`)));
    await killAndWait(worker);
    writeFileSync(join(holdDir, `${point}.go`), '');
    await restartWorker();
  };
}

/** Wait until the worker's local copy of the run's stdout shows `marker`. */
async function waitForLocalOutput(h: CliHarness, marker: string): Promise<void> {
  await waitUntil(`local run log to show ${marker}`, () => {
    const runId = runIdIn(h.stateDir);
    return !!runId && readOr(join(h.stateDir, 'runs', runId, 'stdout')).includes(marker);
  });
}

/** A private dev server (the shared one must not be restarted), on a fixed port and SQLite file. */
class PrivateServer {
  private child?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'dbx-crash-temporal-'));
  port = 0;
  httpPort = 0;
  binary = '';
  get address() {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) {
      this.binary = await findTemporalCli();
      this.port = await freePort();
      do this.httpPort = await freePort();
      while (this.httpPort === this.port);
    }
    const log = join(this.dir, 'server.log');
    const child = spawn(this.binary, startDevArgs({ dbFile: join(this.dir, 'crash.sqlite'), port: this.port, httpPort: this.httpPort, namespace: 'default', headless: true }), {
      cwd: this.dir,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    this.child = child;
    const deadline = Date.now() + 60_000;
    while (!(await answers(this.address, 'default', 1000))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`private dev server did not start (see ${log})`);
      await sleep(200);
    }
    await ensureSearchAttributes(this.address, 'default');
  }

  async kill9(): Promise<void> {
    if (this.child) await killAndWait(this.child);
  }

  async cleanup(): Promise<void> {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `DURABOX_CRASH_CASES=sync,mid-run` runs only those cases (for debugging one at a time). */
const only = process.env.DURABOX_CRASH_CASES?.split(',').map((c) => c.trim());
const wanted = (name: CaseName) => !only || only.includes(name);

beforeAll(async () => {
  const address = inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  const fast = { lines: 10, delay: '0.05' };
  for (const point of HOLD_POINTS.filter(wanted)) {
    results.set(point, scenario(address, namespace, { ...fast, hold: point, disrupt: killAtHold(point) }));
  }
  // Long enough that the command is still going when the retried activity reattaches (~15 s later).
  if (wanted('mid-run')) results.set(
    'mid-run',
    scenario(address, namespace, {
      lines: 40,
      delay: '0.5',
      disrupt: async ({ h, worker, restartWorker }) => {
        await waitForLocalOutput(h, 'out-5\n');
        await killAndWait(worker);
        await restartWorker();
      },
    }),
  );
  const server = new PrivateServer();
  cleanups.push(() => server.cleanup());
  if (wanted('server-restart')) results.set(
    'server-restart',
    server.start().then(() =>
      scenario(server.address, 'default', {
        lines: 30,
        delay: '0.5',
        disrupt: async ({ h }) => {
          await waitForLocalOutput(h, 'out-5\n');
          await server.kill9();
          await sleep(2_000);
          await server.start();
        },
      }),
    ),
  );
  // Settle everything here (each `it` reports its own case's failure).
  await Promise.allSettled(results.values());
}, 400_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

const expectedStream = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i + 1}\n`).join('');
const linesEqual = (text: string, line: string) => text.split('\n').filter((l) => l === line).length;

function judge(name: CaseName, o: Observation): void {
  console.log(`crash case ${name}: ${(o.ms / 1000).toFixed(1)} s`);
  // Ran exactly once, and its exit code reached the CLI and the workflow.
  expect(o.counter).toBe('ran\n');
  expect(o.cli.code, o.cli.stderr.slice(-1500)).toBe(EXIT);
  const run = o.summary.runs[0]!;
  expect(o.summary.runs).toHaveLength(1);
  expect(run).toMatchObject({ exitCode: EXIT, status: 'failed' });

  // Output lost nowhere: the worker's local log is exact, the CLI printed every line exactly once.
  expect(o.localStdout).toBe(expectedStream('out', o.lines));
  expect(o.localStderr).toBe(expectedStream('err', o.lines));
  for (let i = 1; i <= o.lines; i++) {
    expect(linesEqual(o.cli.stdout, `out-${i}`), `out-${i} on CLI stdout`).toBe(1);
    expect(linesEqual(o.cli.stderr, `err-${i}`), `err-${i} on CLI stderr`).toBe(1);
  }

  // Exactly one box: one createBox completion, one box directory and one box identity ever on disk.
  expect(o.activities.createBox).toMatchObject({ scheduled: 1, completed: 1 });
  expect(o.boxDirs).toHaveLength(1);
  expect(o.boxUids).toHaveLength(1);

  // Released exactly once, with the local provider's default action (delete): the box is gone.
  // (Scheduled twice only when the lease moved to another worker mid-release; completed once either way.)
  expect(o.activities.releaseBox).toMatchObject({ completed: 1 });
  expect(o.activities.releaseBox!.results[0]).toMatchObject({ action: 'delete', count: 1 });
  expect(o.boxDirLeft).toBe(false);

  // The lease's final state is consistent.
  expect(o.summary.phase).toBe('released');
  expect(o.summary.released).toMatchObject({ action: 'delete', reason: 'after-run' });
  expect(o.summary.error).toBeUndefined();
}

/**
 * The killed attempt was done again: retried on the restarted worker (attempt > 1), or, when that
 * worker took longer than the pickup timeout to come back (a loaded machine), scheduled again on
 * the worker the lease moved to.
 */
function expectRedone(f: ActivityFacts): void {
  expect(f.maxAttempt > 1 || f.scheduled > 1, JSON.stringify(f)).toBe(true);
}

const itCase = (name: CaseName) => (wanted(name) ? it : it.skip);

describe('crash matrix: SIGKILL the worker, start a new one with the same state dir', () => {
  itCase('after-create')('after the provider created the box, before createBox returned: the retry adopts the box', async () => {
    const o = await results.get('after-create')!;
    judge('after-create', o);
    expectRedone(o.activities.createBox!);
    expect(o.activities.createBox!.results[0]).toMatchObject({ adopted: true });
  });

  itCase('wait-ready')('during wait-ready', async () => {
    const o = await results.get('wait-ready')!;
    judge('wait-ready', o);
    expectRedone(o.activities.waitBoxReady!);
    expect(o.activities.waitBoxReady!.completed).toBe(1);
  });

  itCase('sync')('during sync', async () => {
    const o = await results.get('sync')!;
    judge('sync', o);
    expectRedone(o.activities.syncWorkdir!);
    expect(o.activities.syncWorkdir!.completed).toBe(1);
  });

  itCase('mid-run')('in the middle of the running command: the retry reattaches, never restarts it', async () => {
    const o = await results.get('mid-run')!;
    judge('mid-run', o);
    expectRedone(o.activities.runCommand!);
    expect(o.activities.runCommand!.results[0]).toMatchObject({ reattached: true, exitCode: EXIT });
  });

  itCase('release')('during release: released once, the box gone', async () => {
    const o = await results.get('release')!;
    judge('release', o);
    expectRedone(o.activities.releaseBox!);
  });
});

describe('crash matrix: kill -9 and restart the Temporal dev server (same SQLite file) mid-run', () => {
  itCase('server-restart')('the lease still finishes, the command ran once, nothing lost', async () => {
    judge('server-restart', await results.get('server-restart')!);
  });
});
