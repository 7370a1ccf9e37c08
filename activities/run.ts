/**
 * Sync and run activities. They run on the worker that holds the lease's key. The run activity is
 * safe to retry: it reattaches to the detached command by run id and resumes the output from the
 * offsets of its last heartbeat, so a command is started once whatever crashes meanwhile.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory, CancelledFailure } from '@temporalio/common';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDir, stateDirExcludes } from '../providers/common/state-dir.js';
import { SyncStaleError, copyRest, followStderr, killRun, localRunFiles, readExit, startAndFollow, tailOf, type RunOffsets, type RunSpec } from '../providers/common/remote-run.js';
import { fingerprintFile, localSyncState, remoteLayout, syncTree } from '../providers/common/sync.js';
import { ProviderError } from '../providers/errors.js';
import type { RunCommandInput, RunCommandResult, SyncInput, SyncResult } from './types.js';
import { keepingAlive } from './progress.js';
import { holdPoint } from './test-hooks.js';
import { translated } from './failures.js';

export async function syncWorkdir(input: SyncInput): Promise<SyncResult> {
  return translated(async () => {
    const started = Date.now();
    await holdPoint('sync');
    // The bookkeeping ssh calls may outlast the heartbeat timeout on a slow box: keep beating.
    const res = await keepingAlive((progress) =>
      syncTree(
        { target: input.target, localRoot: input.localRoot, leaseId: input.leaseId, repoName: input.repoName, excludes: [...(input.excludes ?? []), ...stateDirExcludes(input.localRoot)] },
        progress,
      ),
    );
    // The fingerprint itself stays out of history: the box keeps it.
    return { workdir: res.workdir, files: res.files, bytes: res.bytes, deleted: res.deleted, skipped: res.skipped, ms: Date.now() - started };
  });
}

/** How long a reattach waits for a dropped stream before the attempt fails and Temporal retries it. */
const MAX_STREAM_RECONNECTS = 5;

export async function runCommand(input: RunCommandInput): Promise<RunCommandResult> {
  return translated(async () => {
    const ctx = Context.current();
    const started = Date.now();
    const dir = runDir(input.runId);
    const files = localRunFiles(dir);
    // Which lease this output belongs to, for `durabox logs RUN --follow` on this machine.
    writeFileSync(join(dir, 'lease'), `${input.leaseId}\n`);
    const prior = ctx.info.heartbeatDetails as { offsets?: RunOffsets; startedAtMs?: number } | undefined;
    // The first attempt's start: a per-run timeout counts from there, not from a reattach.
    const startedAtMs = prior?.startedAtMs ?? started;
    const offsets: RunOffsets = { stdout: prior?.offsets?.stdout ?? 0, stderr: prior?.offsets?.stderr ?? 0 };

    // Heartbeat from the first moment: an ssh login to a box with a slow shell profile can outlast the
    // heartbeat timeout, and a silent attempt would be retried while it still runs.
    let pid: number | undefined;
    let attached: boolean | undefined;
    let exit: { code: number; status?: string } | undefined;
    const beat = setInterval(() => ctx.heartbeat({ offsets: { ...offsets }, pid, startedAtMs }), 1000);
    ctx.heartbeat({ offsets, startedAtMs });

    // Our own abort: cancellation from the workflow or the per-run timeout.
    const stop = new AbortController();
    let stopReason: 'cancelled' | 'timed-out' | undefined;
    const onCancel = () => {
      // Only a cancellation the workflow asked for kills the command. An attempt that was timed out
      // or superseded (another attempt reattaches), or a worker shutting down, just lets go of it.
      if (ctx.cancellationDetails?.cancelRequested ?? true) stopReason ??= 'cancelled';
      stop.abort();
    };
    ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
    if (ctx.cancellationSignal.aborted) onCancel();
    const timer = input.timeoutMs
      ? setTimeout(() => {
          stopReason ??= 'timed-out';
          stop.abort();
        }, Math.max(input.timeoutMs - (Date.now() - startedAtMs), 0))
      : undefined;

    try {
      // A warm rerun: the fingerprint of what a sync would ship is compared in the run's own session,
      // which starts while the fingerprint is still being computed (it goes on the session's stdin).
      let checked: { files: number; bytes: number; ms: number } | undefined;
      let syncCheck: RunSpec['syncCheck'];
      let checkAborted: { err: unknown } | undefined;
      if (input.syncCheck) {
        const c = input.syncCheck;
        const t0 = Date.now();
        const { metaDir } = remoteLayout(input.target, input.leaseId, c.repoName);
        // The box decides, in the start script: a run that exists there is attached whatever the
        // tree (an earlier attempt, maybe on a worker that died, started it); a new one starts
        // only if the box holds exactly what a sync of this tree would ship. A tree this worker
        // cannot read (the lease moved here from another machine) matches nothing: the run is
        // attached if it started, else the sync step reports the missing tree.
        const fingerprint = localSyncState(
          { target: input.target, localRoot: c.localRoot, leaseId: input.leaseId, repoName: c.repoName, excludes: [...(c.excludes ?? []), ...stateDirExcludes(c.localRoot)] },
          stop.signal,
        ).then(
          (local) => {
            checked = { files: local.manifest.paths.length, bytes: local.manifest.bytes, ms: Date.now() - t0 };
            return local.fingerprint;
          },
          (err: unknown) => {
            // Aborted: the session gets no fingerprint and starts nothing; the abort is what we report.
            if (stop.signal.aborted) {
              checkAborted = { err };
              throw err;
            }
            return 'unreadable-local-tree';
          },
        );
        syncCheck = { fingerprint, fingerprintFile: fingerprintFile(metaDir) };
      }
      const spec: RunSpec = { leaseId: input.leaseId, runId: input.runId, workdir: input.workdir, argv: input.argv, env: input.env, syncCheck, freshLogin: input.freshLogin };
      // Aborted when the box turns out stale: the stderr session then stops waiting for a pid.
      const stderrStop = new AbortController();
      stop.signal.addEventListener('abort', () => stderrStop.abort(), { once: true });
      let stale = false;
      /** Repeat a stream after a dropped session (a reconnect attaches; offsets carry on). */
      const withReconnects = async (go: () => Promise<void>) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await go();
          } catch (err) {
            if (stop.signal.aborted || attempt >= MAX_STREAM_RECONNECTS) throw err;
            await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
          }
        }
      };
      // Two sessions side by side: one starts (or attaches), streams stdout and reads the exit status;
      // the other streams stderr once the run's pid exists on the box.
      await Promise.all([
        withReconnects(async () => {
          let r;
          try {
            r = await startAndFollow(input.target, spec, files.stdout, offsets.stdout, (n) => (offsets.stdout += n), stop.signal);
          } catch (err) {
            if (checkAborted) throw checkAborted.err;
            if (!(err instanceof SyncStaleError)) throw err;
            stale = true;
            stderrStop.abort();
            return;
          }
          offsets.stdout = r.offset;
          pid = r.pid;
          attached ??= r.attached;
          exit = r.exit;
        }),
        withReconnects(async () => {
          // This session waits on the box for the run's pid for about a minute: start that wait
          // once the fingerprint is known, not while a large tree is still being read.
          await Promise.resolve(syncCheck?.fingerprint).catch(() => undefined);
          if (stale || stop.signal.aborted) return;
          offsets.stderr = await followStderr(input.target, input.leaseId, input.runId, files.stderr, offsets.stderr, (n) => (offsets.stderr += n), stderrStop.signal);
        }),
      ]);
      if (stale) throw syncStale(input.runId);
      if (stop.signal.aborted && !stopReason) {
        throw new CancelledFailure('this run attempt was superseded or its worker is stopping; the command keeps running');
      }

      if (stopReason) {
        await killRun(input.target, input.leaseId, input.runId, stopReason);
        // The streams' sessions were cut at the abort: copy what the command printed while it was
        // being stopped (often the most useful part, a traceback on SIGTERM).
        for (const stream of ['stdout', 'stderr'] as const) {
          offsets[stream] = await copyRest(input.target, input.leaseId, input.runId, stream, files[stream], offsets[stream]).catch(() => offsets[stream]);
        }
        exit = undefined;
      }
      // Normally the stdout session read it; after a kill, or when it could not tell, ask again.
      const ended = exit ?? (await waitForExit(input));
      const status = ended.status === 'cancelled' || ended.status === 'timed-out' ? ended.status : ended.code === 0 ? 'succeeded' : 'failed';
      if (status === 'cancelled' && stopReason === 'cancelled') {
        throw new CancelledFailure('run cancelled; remote process group killed');
      }
      return {
        exitCode: ended.code,
        status,
        tail: [tailOf(files.stdout), tailOf(files.stderr)].filter(Boolean).join('\n'),
        runMs: Date.now() - startedAtMs,
        stdoutBytes: offsets.stdout,
        stderrBytes: offsets.stderr,
        reattached: attached ?? false,
        sync: checked,
      };
    } finally {
      clearInterval(beat);
      if (timer) clearTimeout(timer);
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    }
  });
}

/** Nothing was started: the workflow syncs, then runs again with the same run id. Expected, so benign. */
function syncStale(runId: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'SyncStale',
    message: `run ${runId} not started: the tree on the box is not the local one; sync first`,
    nonRetryable: true,
    category: ApplicationFailureCategory.BENIGN,
  });
}

/** The wrapper writes `exit` right after the command ends; give it a moment, then decide. */
async function waitForExit(input: RunCommandInput): Promise<{ code: number; status?: string }> {
  for (let i = 0; i < 50; i++) {
    const e = await readExit(input.target, input.leaseId, input.runId);
    if (e.code !== undefined) return { code: e.code, status: e.status };
    if (!e.alive && i >= 10) {
      // The process group vanished without an exit status (killed -9, box rebooted).
      return { code: 137, status: 'failed' };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new ProviderError('transient', `run ${input.runId} has not reported an exit status yet`, {
    provider: 'ssh',
    operation: 'run',
    leaseId: input.leaseId,
  });
}
