/**
 * `durabox run [options] -- CMD...`: start a lease and its first run in one round trip
 * (update-with-start), or run on an existing lease with `--id`. Output streams live; the CLI exits
 * with the remote command's exit code. Ctrl-C stops the remote command; the lease then follows its
 * policy (a plain `run` releases it, a kept lease stays).
 */
import { Command } from 'commander';
import type { RunRequest, RunResult } from '../../workflows/messages.js';
import { formatDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { forwardedEnv } from '../env-forward.js';
import { ConfigError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { checkSlugFlag, newRunId } from '../lease-ids.js';
import type { LeaseChannel } from '../lease-channel.js';
import { makeOutput, type Output } from '../output.js';
import { repoContext } from '../repo-context.js';
import { clientAccess, syncFromClient } from '../client-data-plane.js';
import { followLeaseOutput, isSyncFromClient } from '../lease-output.js';
import { statusFeed } from '../lease-status-feed.js';
import { existingWorkerId } from '../worker-identity.js';
import { connectTo, temporalTarget } from '../temporal/connect.js';
import { trace } from '../trace.js';
import { addLeaseConfigOptions, durationFlag, leaseConfigFlags, type LeaseConfigFlags } from './lease-flags.js';
import { runFailureExit, watchProgress } from './run-support.js';

interface RunOptions extends LeaseConfigFlags {
  id?: string;
  slug?: string;
  keep?: boolean;
  timeout?: string;
  sync: boolean;
  freshLogin?: boolean;
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
    .option('--no-sync', 'do not sync the working tree first')
    .option('--fresh-login', "run in a fresh login shell, not the box's cached login environment");
  addLeaseConfigOptions(cmd);
  return cmd.action(async (argv: string[], opts: RunOptions, command: Command) => {
    const g = command.optsWithGlobals() as RunOptions;
    const out = makeOutput({ json: g.json, quiet: g.quiet });
    process.exitCode = await runAction(argv, g, out);
  });
}

async function runAction(argv: string[], opts: RunOptions, out: Output): Promise<number> {
  if (argv.length === 0) throw new ConfigError('nothing to run: give a command after --');
  // A run on an existing lease never starts one, so it needs no origin.
  const repo = repoContext(process.cwd(), { withOrigin: !opts.id });
  trace('repo context');
  const loaded = loadConfig({ flags: leaseConfigFlags(opts), extraEnv: opts.env, repoRoot: repo.root });
  const timeoutMs = durationFlag('--timeout', opts.timeout);
  if (opts.id && (opts.slug || opts.keep)) throw new ConfigError('--slug and --keep apply to a new lease, not to --id');
  checkSlugFlag(opts.slug);
  trace('config loaded');
  const target = await temporalTarget(loaded.config.taskQueue, (l) => out.step(l));
  trace('temporal found');

  let runId = newRunId();
  const req: RunRequest = {
    argv,
    localRoot: opts.sync ? repo.root : undefined,
    noSync: !opts.sync,
    env: forwardedEnv(loaded.config.env, process.env, (m) => out.warn(m)),
    excludes: loaded.config.excludes,
    timeoutMs,
    freshLogin: opts.freshLogin || undefined,
    origin: { workerId: existingWorkerId() },
  };
  // Set by the first Ctrl-C: a run the server has not taken yet is then not sent again.
  let interrupted = false;
  const wasInterrupted = () => interrupted;
  // A run on a lease that is up goes over the HTTP API when the server has one; everything else
  // (a new lease, a resume, TLS) over the gRPC client, which is loaded only then.
  let lease: LeaseChannel | undefined;
  if (opts.id) {
    const { httpLeaseChannel } = await import('../lease-channel-http.js');
    lease = await httpLeaseChannel(target, opts.id, wasInterrupted);
    if (lease) out.step(`running on lease ${opts.id}`);
  }
  if (!lease) {
    const [{ client }, { grpcLeaseChannel }] = await Promise.all([connectTo(target), import('../lease-channel-grpc.js')]);
    trace('connected');
    lease = await grpcLeaseChannel(client, { id: opts.id, slug: opts.slug, keep: opts.keep, loaded, repo, out, interrupted: wasInterrupted });
  }
  trace(`lease channel: ${lease.via}`);
  const started = lease;
  const update = started.run(req, runId);
  trace('run sent');
  const access = clientAccess((r) => started.clientAccess(r), started.leaseId);
  // One status loop for both watchers: the server answers a second concurrent query late.
  const feed = statusFeed((signal) => started.status(signal));
  let output = followLeaseOutput(feed, started.leaseId, runId, access);
  const progress = watchProgress(feed, out);
  const interrupts = onInterrupt(async () => {
    interrupted = true;
    out.step('stopping the remote command…');
    await started.cancelRun(runId);
  });
  let result: RunResult | undefined;
  let failure: unknown;
  try {
    result = await update;
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
      result = await started.run({ ...req, localRoot: undefined, clientSync: sync }, runId);
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
    workflowId: started.workflowId,
    runId,
    status: result.status,
    exitCode: result.exitCode,
    exitCodeFrom: 'command',
    timings: result.timings,
    sync: result.sync,
  });
  return result.exitCode;
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
