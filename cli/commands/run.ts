/**
 * `durabox run [options] -- CMD...`: start a lease and its first run in one round trip
 * (update-with-start), or run on an existing lease with `--id`. Output streams live; the CLI exits
 * with the remote command's exit code. Ctrl-C stops the remote command; the lease then follows its
 * policy (a plain `run` releases it, a kept lease stays).
 */
import { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { leaseWorkflow } from '../../workflows/lease.js';
import { cancelRunSignal, leaseWorkflowId, runUpdate, type RunRequest, type RunResult } from '../../workflows/messages.js';
import { formatDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { forwardedEnv } from '../env-forward.js';
import { ConfigError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { newRunId } from '../lease-ids.js';
import { checkSlugFlag, newLeaseInput } from '../lease-input.js';
import { resumeOperation } from '../lease-resume.js';
import { resolveLease, withStartLease, type LeaseHandle } from '../lease-client.js';
import { makeOutput, type Output } from '../output.js';
import { repoContext } from '../repo-context.js';
import { clientAccess, syncFromClient } from '../client-data-plane.js';
import { followLeaseOutput, isSyncFromClient } from '../lease-output.js';
import { statusFeed } from '../lease-status-feed.js';
import { existingWorkerId } from '../worker-identity.js';
import { connectTemporal } from '../temporal/connect.js';
import { trace } from '../trace.js';
import { runUpdateOutcome, sendRunUpdate, type RunUpdateTarget } from '../temporal/run-update.js';
import { addLeaseConfigOptions, durationFlag, leaseConfigFlags, type LeaseConfigFlags } from './lease-flags.js';
import { runFailureExit, watchProgress } from './run-support.js';

interface RunOptions extends LeaseConfigFlags {
  id?: string;
  slug?: string;
  keep?: boolean;
  timeout?: string;
  sync: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function runCommand(): Command {
  const cmd = new Command('run')
    .description('run a command on a leased box (a new lease unless --id), streaming its output')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .option('--id <lease>', 'run on an existing lease (id or slug) instead of a new one')
    .option('--slug <slug>', 'human name for a new lease')
    .option('--keep', 'keep the new lease after the command (it still expires)')
    .option('--timeout <duration>', 'kill the command after this long (exit 124)')
    .option('--no-sync', 'do not sync the working tree first');
  addLeaseConfigOptions(cmd);
  return cmd.action(async (argv: string[], opts: RunOptions, command: Command) => {
    const g = command.optsWithGlobals() as RunOptions;
    const out = makeOutput({ json: g.json, quiet: g.quiet });
    process.exitCode = await runAction(argv, g, out);
  });
}

async function runAction(argv: string[], opts: RunOptions, out: Output): Promise<number> {
  if (argv.length === 0) throw new ConfigError('nothing to run: give a command after --');
  const repo = repoContext();
  trace('repo context');
  const loaded = loadConfig({ flags: leaseConfigFlags(opts), extraEnv: opts.env, repoRoot: repo.root });
  const timeoutMs = durationFlag('--timeout', opts.timeout);
  if (opts.id && (opts.slug || opts.keep)) throw new ConfigError('--slug and --keep apply to a new lease, not to --id');
  checkSlugFlag(opts.slug);
  trace('config loaded');
  const { client } = await connectTemporal(loaded.config.taskQueue, (l) => out.step(l));
  trace('connected');

  let runId = newRunId();
  const req: RunRequest = {
    argv,
    localRoot: opts.sync ? repo.root : undefined,
    noSync: !opts.sync,
    env: forwardedEnv(loaded.config.env, process.env, (m) => out.warn(m)),
    excludes: loaded.config.excludes,
    timeoutMs,
    origin: { workerId: existingWorkerId() },
  };
  // Set by the first Ctrl-C: a run the server has not taken yet is then not sent again.
  let interrupted = false;
  const wasInterrupted = () => interrupted;
  const started = await startRun(client, opts, loaded, repo, req, runId, out, wasInterrupted);
  trace('run sent');
  const access = clientAccess(started.handle, started.leaseId);
  // One status loop for both watchers: the server answers a second concurrent query late.
  const feed = statusFeed(started.handle);
  let output = followLeaseOutput(feed, started.leaseId, runId, access);
  const progress = watchProgress(feed, out);
  const interrupts = onInterrupt(async () => {
    interrupted = true;
    out.step('stopping the remote command…');
    await (await started.handle).signal(cancelRunSignal, { runId });
  });
  let result: RunResult | undefined;
  let failure: unknown;
  try {
    result = await started.update;
  } catch (err) {
    failure = err;
  }
  trace('run returned');
  if (!result && isSyncFromClient(failure) && interrupts.count === 0) {
    // The lease's worker is on another machine: sync from here, then run with the tree in place.
    await output.finish().catch(() => undefined);
    failure = undefined;
    try {
      out.step("the lease's worker is on another machine; syncing from here");
      const sync = await syncFromClient(await access(), {
        leaseId: started.leaseId,
        localRoot: repo.root,
        excludes: loaded.config.excludes,
        signal: new AbortController().signal,
      });
      runId = newRunId();
      output = followLeaseOutput(feed, started.leaseId, runId, access);
      const handle = await started.handle;
      result = await durableRunUpdate({ client, workflowId: handle.workflowId, updateId: runId, req: { ...req, localRoot: undefined, clientSync: sync }, interrupted: wasInterrupted });
    } catch (err) {
      failure = err;
    }
  }
  progress.stop();
  interrupts.dispose();
  try {
    // The result names the worker that ran it, so where the output is needs no status answer.
    await output.finish(result?.workerQueue).catch((err: unknown) => out.warn(`output: ${(err as Error).message}`));
  } finally {
    // No status query of ours may outlive the connection, which main closes next.
    await feed.stop();
  }
  trace('output drained');
  const handle = await started.handle.catch(() => undefined);
  if (!result) {
    const { code, message } = runFailureExit(failure, interrupts.count > 0);
    out.result('', { leaseId: started.leaseId, runId, exitCode: code, exitCodeFrom: 'durabox', error: message });
    if (!out.json) process.stderr.write(`durabox: ${message}\n`);
    return code;
  }
  if (result.sync?.skipped) out.step('sync skipped (nothing changed)');
  out.step(`${result.status} with exit ${result.exitCode} in ${formatDuration(result.timings?.totalMs ?? 0)}${result.sync && !result.sync.skipped ? ` (synced ${result.sync.files} files)` : ''}`);
  out.result('', {
    leaseId: started.leaseId,
    workflowId: handle?.workflowId,
    runId,
    status: result.status,
    exitCode: result.exitCode,
    exitCodeFrom: 'command',
    timings: result.timings,
    sync: result.sync,
  });
  return result.exitCode;
}

async function startRun(
  client: Client,
  opts: RunOptions,
  loaded: ReturnType<typeof loadConfig>,
  repo: ReturnType<typeof repoContext>,
  req: RunRequest,
  runId: string,
  out: Output,
  interrupted: () => boolean,
): Promise<{ leaseId: string; handle: Promise<LeaseHandle>; update: Promise<RunResult> }> {
  if (opts.id) {
    const handle = await resolveLease(client, opts.id);
    const leaseId = handle.workflowId.replace(/^lease-/, '');
    const resume = await resumeOperation(client, handle, loaded.config.taskQueue);
    if (resume) {
      out.step(`resuming lease ${opts.id}: starting its stopped box again`);
      const update = durableRunUpdate({ client, workflowId: handle.workflowId, updateId: runId, req, startOperation: resume, interrupted });
      return { leaseId, handle: Promise.resolve(client.workflow.getHandle<typeof leaseWorkflow>(handle.workflowId)), update };
    }
    out.step(`running on lease ${opts.id}`);
    return { leaseId, handle: Promise.resolve(handle), update: durableRunUpdate({ client, workflowId: handle.workflowId, updateId: runId, req, interrupted }) };
  }
  const input = await newLeaseInput(client, loaded, repo, { slug: opts.slug, releaseAfterRun: !opts.keep });
  out.step(`lease ${input.slug} (${input.leaseId}) on ${input.provider}; release: ${input.releaseAction ?? 'provider default'}`);
  const update = durableRunUpdate({
    client,
    workflowId: leaseWorkflowId(input.leaseId),
    updateId: runId,
    req,
    startOperation: () => withStartLease(input, loaded.config.taskQueue),
    interrupted,
  });
  // The operation's own handle resolves only with the update's result; address the workflow by id
  // so progress can be queried while the box is being acquired.
  const handle = Promise.resolve(client.workflow.getHandle<typeof leaseWorkflow>(leaseWorkflowId(input.leaseId)));
  return { leaseId: input.leaseId, handle, update };
}

/** First Ctrl-C: stop the remote command politely. Second: leave now (the lease stays durable). */
function onInterrupt(first: () => Promise<void>) {
  const state = { count: 0 };
  const handler = () => {
    state.count++;
    if (state.count === 1) {
      first().catch((err) => process.stderr.write(`durabox: could not stop the run: ${(err as Error).message}\n`));
    } else {
      process.stderr.write('durabox: leaving; the lease goes on and releases itself per its policy\n');
      process.exit(ExitCode.interrupted);
    }
  };
  process.on('SIGINT', handler);
  return {
    get count() {
      return state.count;
    },
    dispose: () => process.off('SIGINT', handler),
  };
}

/** The run update, asked for again through RPC timeouts of a busy server (same update id). */
function durableRunUpdate(t: RunUpdateTarget): Promise<RunResult> {
  return runUpdateOutcome(t, sendRunUpdate(t));
}
