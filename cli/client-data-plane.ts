/**
 * The client's own data plane, for a lease whose worker is on another machine (a shared fleet).
 *
 * The worker keeps the control plane (create, ready, start/kill the command, release) and the
 * durable copy of the output on the box; what needs this machine's disk happens here, over SSH to
 * the box with a key of this machine's own:
 *   - the worker lets this machine's per-lease public key in (`client-access` update; only the
 *     public half enters history) and returns the target with the host key the lease pinned;
 *   - the working tree is synced from here (the same syncTree, fingerprint skip included);
 *   - the run's output is followed from the box's run files into this machine's
 *     `<state>/runs/<runId>/`, which `followRunOutput`, `durabox logs` and `attach` read.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { ProgressContext, SshTarget } from '../providers/adapter.js';
import type { ClientAccess, ClientAccessRequest, ClientSyncReport } from '../workflows/messages.js';
import { CliError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { runLogPaths } from './run-output.js';

export interface BoxAccess {
  target: SshTarget;
  /** The lease's repository directory on the box. */
  repoName: string;
}

/** The lease's `client-access` update, sent by whichever client the command holds. */
export type AskAccess = (req: ClientAccessRequest) => Promise<ClientAccess>;

/** This machine's SSH access to the lease's box: asked for once, reused for sync and output. */
export function clientAccess(ask: AskAccess, leaseId: string): () => Promise<BoxAccess> {
  let pending: Promise<BoxAccess> | undefined;
  return () => (pending ??= requestAccess(ask, leaseId));
}

// The SSH and sync modules load only when this machine needs the box itself: a run whose worker
// is here (the usual case) never does, and a short command should not compile them.
const ssh = () => Promise.all([import('../providers/common/remote.js'), import('../providers/common/remote-run.js')]);

async function requestAccess(ask: AskAccess, leaseId: string): Promise<BoxAccess> {
  const { ensureLeaseKey } = await import('../providers/common/keys.js');
  const key = await ensureLeaseKey(leaseId);
  // Only `type base64`: the worker appends it to authorized_keys, so no comment or options travel.
  const publicKey = key.publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
  const access = await ask({ publicKey });
  if (access.target.hostKeys.length === 0) {
    throw new CliError(`lease ${leaseId} has no pinned host key yet; refusing to trust the box from here`, ExitCode.transport);
  }
  const repoName = access.repoName;
  if (access.authorized) return { target: { ...access.target, keyPath: key.keyPath }, repoName };
  // Providers that log in with a configured key (static hosts, gateways) need that key here too.
  if (existsSync(access.target.keyPath)) return { target: access.target, repoName };
  throw new CliError(
    `the box of lease ${leaseId} accepts only the provider's configured key (${access.target.keyPath}), which is not on this machine; configure it here or run on the worker's machine`,
    ExitCode.config,
  );
}

const cliProgress = (signal: AbortSignal): ProgressContext => ({ heartbeat: () => undefined, signal, log: () => undefined });

/** Sync this machine's tree to the box, as the sync activity would from the worker's disk. */
export async function syncFromClient(
  access: BoxAccess,
  opts: { leaseId: string; localRoot: string; excludes?: string[]; signal: AbortSignal },
): Promise<ClientSyncReport> {
  const started = Date.now();
  const [{ syncTree }, { stateDirExcludes }] = await Promise.all([import('../providers/common/sync.js'), import('../providers/common/state-dir.js')]);
  const res = await syncTree(
    {
      target: access.target,
      localRoot: opts.localRoot,
      leaseId: opts.leaseId,
      repoName: access.repoName,
      excludes: [...(opts.excludes ?? []), ...stateDirExcludes(opts.localRoot)],
    },
    cliProgress(opts.signal),
  );
  return { files: res.files, bytes: res.bytes, deleted: res.deleted, skipped: res.skipped, ms: Date.now() - started };
}

export interface RemoteFollower {
  /** The run has ended (its update returned): copy what is left, then stop. */
  finish(): Promise<void>;
}

/**
 * Copy a run's stdout/stderr from the box into this machine's run files while it runs. Waits for
 * the run to exist (the worker starts it after the sync), then follows both streams until the
 * command's process group is gone. Positional writes make a restart harmless.
 */
export function followRemoteRun(access: () => Promise<BoxAccess>, leaseId: string, runId: string): RemoteFollower {
  const stop = new AbortController();
  const paths = runLogPaths(runId);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const offsets = { stdout: 0, stderr: 0 };
  let ended = false;

  const follow = async () => {
    const [{ shellQuote, sshExec }, { followStream, localRunFiles, remoteRunDir }] = await ssh();
    const files = localRunFiles(paths.dir);
    const t = (await access()).target;
    const R = remoteRunDir(t, leaseId, runId);
    let pid: number | undefined;
    while (!stop.signal.aborted) {
      const res = await sshExec(t, `cat ${shellQuote(`${R}/pid`)} 2>/dev/null || true`, { timeoutMs: 30_000 });
      pid = Number(res.stdout.trim());
      if (Number.isInteger(pid) && pid > 1) break;
      pid = undefined;
      // Before the run starts there is nothing to follow; once it has ended without one, give up.
      if (ended) return;
      await sleep(300);
    }
    if (!pid) return;
    await Promise.all(
      (['stdout', 'stderr'] as const).map(async (name) => {
        for (let attempt = 0; attempt < 5 && !stop.signal.aborted; attempt++) {
          try {
            offsets[name] = await followStream(t, `${R}/${name}`, pid!, files[name], offsets[name], (n) => (offsets[name] += n), stop.signal);
            return;
          } catch {
            await sleep(500 * (attempt + 1));
          }
        }
      }),
    );
  };
  const done = follow().catch((err: unknown) => err);

  return {
    async finish() {
      ended = true;
      // tail --pid ends by itself once the command is gone; do not wait forever on a lost box.
      const timer = setTimeout(() => stop.abort(), 15_000);
      const err = await done;
      clearTimeout(timer);
      stop.abort();
      if (err instanceof CliError) throw err;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
