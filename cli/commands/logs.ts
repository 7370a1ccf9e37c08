/**
 * `durabox logs RUN [--follow]` and `durabox attach LEASE`: a run's output after the fact or while it
 * is going. A run of this machine's worker is read from its local copy under `<state>/runs/<runId>/`
 * (the same files `durabox run` follows); any other run is copied from the box over SSH while its
 * lease still has one (see client-data-plane.ts). Whether a run has ended comes from the lease's
 * status query (or its result once the lease is closed), never from the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { clientAccessUpdate, type LeaseStatus, type RunRecord } from '../../workflows/messages.js';
import { describeRun } from '../../workflows/describe.js';
import { safeSegment } from '../../providers/common/state-dir.js';
import { CliError, ConfigError, NoWorkerAnswerError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { leaseStatus, resolveLease, type LeaseHandle } from '../lease-client.js';
import { makeOutput, type Output } from '../output.js';
import { followRunOutput, runLogPaths } from '../run-output.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTemporal } from '../temporal/connect.js';
import { isThisMachinesWorker } from '../worker-identity.js';
import { clientAccess } from '../client-data-plane.js';
import { followLeaseOutput } from '../lease-output.js';
import { knownStatus } from '../lease-status-feed.js';
import { leaseOfRun } from '../lease-of-run.js';

const POLL_MS = 300;

type Globals = { follow?: boolean; json?: boolean; quiet?: boolean };

export function logsCommand(): Command {
  return new Command('logs')
    .description("print a run's full output (stdout to stdout, stderr to stderr)")
    .argument('<run>', 'run id (shown by durabox run --json and durabox status)')
    .option('-f, --follow', 'keep printing while the run is going; return when it ends')
    .action(async (runId: string, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as Globals;
      const out = makeOutput({ quiet: g.quiet });
      checkRunId(runId);
      if (!hasLocalOutput(runId)) {
        // Not run by this machine's worker: copy it from the box while its lease still has one.
        const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
        const handle = await leaseOfRun(client, runId, recordedLeaseOf(runId));
        if (!handle) throw notHere(runId);
        const leaseId = handle.workflowId.replace(/^lease-/, '');
        // One status answer says where the run's output is; waitForRunEnd then polls on its own.
        // Without -f, a lease that does not answer now is an error, not a long wait.
        const status = g.follow
          ? await pollStatus(handle, out)
          : await leaseStatus(handle).catch((err: unknown) => {
              if (err instanceof NoWorkerAnswerError) throw err;
              return undefined;
            });
        if (!status) throw new CliError(`lease ${leaseId} did not say where the output of ${runId} is; is its worker running? (durabox logs -f waits for it)`, ExitCode.temporal);
        const follower = followLeaseOutput(knownStatus(status), leaseId, runId, clientAccess((req) => handle.executeUpdate(clientAccessUpdate, { args: [req] }), leaseId));
        try {
          if (g.follow) await waitForRunEnd(handle, runId, out);
        } finally {
          await follower.finish();
        }
        return;
      }
      if (!g.follow) {
        await followRunOutput(runId).finish();
        return;
      }
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const handle = await leaseOfRun(client, runId, recordedLeaseOf(runId));
      const follower = followRunOutput(runId);
      try {
        if (handle) await waitForRunEnd(handle, runId, out);
      } finally {
        await follower.finish();
      }
    });
}

export function attachCommand(): Command {
  return new Command('attach')
    .description("follow a lease's current (or last) run from its start; exit with its exit code")
    .argument('<lease>', 'lease id or slug')
    .action(async (ref: string, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as Globals;
      const out = makeOutput({ quiet: g.quiet });
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const handle = await resolveLease(client, ref);
      process.exitCode = await attach(handle, ref, out);
    });
}

async function attach(handle: LeaseHandle, ref: string, out: Output): Promise<number> {
  // A lease still acquiring its box has no run record yet: wait for one while the lease lives.
  let status = await pollStatus(handle, out);
  let run = currentRun(status);
  while (!run && !ended(status)) {
    await sleep(POLL_MS);
    status = await pollStatus(handle, out);
    run = currentRun(status);
  }
  if (!run) throw new CliError(`lease ${ref} has no runs`, ExitCode.notFound);
  const runId = run.runId;
  out.step(`attached to ${runId} (${describeRun(run.argv)}), ${run.status}`);

  // This machine's worker writes the run's files here; any other worker's run is copied from the box.
  if (!hasLocalOutput(runId) && !isThisMachinesWorker(status.workerQueue) && (!status.target || ended(status))) {
    throw notHere(runId, status.workerQueue);
  }
  const leaseId = handle.workflowId.replace(/^lease-/, '');
  // The status in hand says where the output is: no second query loop beside waitForRunEnd's.
  const follower = followLeaseOutput(knownStatus(status), leaseId, runId, clientAccess((req) => handle.executeUpdate(clientAccessUpdate, { args: [req] }), leaseId));
  let final: RunRecord | undefined;
  try {
    final = await waitForRunEnd(handle, runId, out);
  } finally {
    await follower.finish();
  }
  const code = exitCodeOf(final);
  out.step(`${runId} ${final?.status ?? 'gone'}${final?.exitCode !== undefined ? ` with exit ${final.exitCode}` : ''}`);
  return code;
}

/** The record once the run is no longer running (undefined when the lease ended without it). */
async function waitForRunEnd(handle: LeaseHandle, runId: string, out: Output): Promise<RunRecord | undefined> {
  for (;;) {
    const s = await pollStatus(handle, out);
    const r = s.runs.find((x) => x.runId === runId);
    if (r && !isRunning(r)) return r;
    if (!r && ended(s)) return undefined;
    await sleep(POLL_MS);
  }
}

/** Outputs that have said a lease's worker does not answer (once per command). */
const toldNoWorker = new WeakSet<Output>();

/**
 * Status that tolerates a moment without a workflow worker (a restarting worker cannot answer
 * queries): retry for a while before giving up.
 */
async function pollStatus(handle: LeaseHandle, out: Output): Promise<LeaseStatus & { workflowStatus: string }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await leaseStatus(handle);
    } catch (err) {
      if (attempt >= 200) throw err;
      // Following waits for a worker as long as the lease lives; say once why nothing comes.
      if (err instanceof NoWorkerAnswerError && !toldNoWorker.has(out)) {
        toldNoWorker.add(out);
        out.step(`waiting for a worker: ${err.summary}`);
      }
      await sleep(POLL_MS * 2);
    }
  }
}

function currentRun(s: LeaseStatus): RunRecord | undefined {
  return s.runs.find(isRunning) ?? s.runs[s.runs.length - 1];
}

const isRunning = (r: RunRecord) => r.status === 'running' || r.status === 'queued';
const ended = (s: LeaseStatus & { workflowStatus?: string }) =>
  (s.workflowStatus !== undefined && s.workflowStatus !== 'RUNNING') || s.phase === 'released' || s.phase === 'failed';

export function exitCodeOf(r: RunRecord | undefined): number {
  if (r?.exitCode !== undefined) return r.exitCode;
  if (r?.status === 'cancelled') return ExitCode.interrupted;
  if (r?.status === 'timed-out') return 124;
  return ExitCode.transport;
}

function checkRunId(runId: string): void {
  try {
    safeSegment(runId);
  } catch {
    throw new ConfigError(`${JSON.stringify(runId)} is not a run id`);
  }
}

function hasLocalOutput(runId: string): boolean {
  const p = runLogPaths(runId);
  return existsSync(p.stdout) || existsSync(p.stderr);
}

function notHere(runId: string, workerQueue?: string): CliError {
  return new CliError(
    `no output of ${runId} on this machine: a run's output lives on the worker that ran it${workerQueue ? ` (${workerQueue})` : ''}; run durabox logs there`,
    ExitCode.notFound,
  );
}

/** The lease file this machine's CLI left beside a run it started (absent for others' runs). */
function recordedLeaseOf(runId: string): string | undefined {
  const file = join(runLogPaths(runId).dir, 'lease');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
