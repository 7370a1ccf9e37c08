/**
 * `durabox run --id` on a lease that is up, over Temporal's HTTP API: no SDK to load, so the CLI's
 * own part of a rerun is a few milliseconds of requests instead of half a second of start-up.
 *
 * Only the common case comes this way. A lease that is not running (resume) or not found, a server
 * without a known HTTP address, or any doubt before the run is sent (a transport error) returns
 * undefined, and the caller takes the gRPC path for the whole command. Once the run is sent, an RPC
 * timeout or a dropped connection moves the channel to the gRPC client: the run's outcome is asked
 * for by update id on the run it was sent to (never sent twice, never lost), and the status query,
 * the cancel signal and client access follow it there.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { MESSAGE_NAMES } from '../workflows/lease-names.js';
import type { ClientAccess, ClientAccessRequest, LeaseStatus, RunRequest, RunResult } from '../workflows/messages.js';
import { CliError, NoWorkerAnswerError, STATUS_QUERY_TIMEOUT_MS, noWorkerAnswered } from './errors.js';
import type { LeaseChannel } from './lease-channel.js';
import { leasesQuery, slugQuery, workflowIdOfRef } from './lease-refs.js';
import { closeAtExit, connectTo, type TemporalTarget } from './temporal/connect.js';
import { TemporalHttpApi, TemporalHttpError } from './temporal/http-api.js';
import { trace } from './trace.js';

const RUNNING = 'WORKFLOW_EXECUTION_STATUS_RUNNING';
/** Finding the lease: a server that does not answer this fast is left to the gRPC path. */
export const LOOKUP_TIMEOUT_MS = 3000;

export async function httpLeaseChannel(target: TemporalTarget, ref: string, interrupted: () => boolean): Promise<LeaseChannel | undefined> {
  const { httpUrl, namespace } = target.cluster;
  if (!httpUrl) return undefined;
  const api = new TemporalHttpApi(new URL(httpUrl), namespace);
  closeAtExit(api);
  let workflowId: string | undefined;
  let runId: string | undefined;
  let taskQueue: string | undefined;
  try {
    workflowId = await findLease(api, ref);
    if (!workflowId) return undefined;
    // Resuming a stopped lease starts a workflow: the gRPC path's job.
    const running = await describeRunning(api, workflowId);
    if (!running) return undefined;
    ({ runId, taskQueue } = running);
  } catch (err) {
    // Not even "not found" is taken from here: a server without the HTTP API answers 404 for every
    // path. The gRPC path gives the authoritative answer.
    trace(`http api: ${(err as Error).message}; using gRPC`);
    return undefined;
  }
  const wf = { workflowId, runId };
  // Set once a transport error moved this channel to the gRPC client.
  let grpc: Promise<Client> | undefined;
  const toGrpc = (why: string) => {
    trace(`http api: ${why}; going on over gRPC`);
    return (grpc ??= connectPatiently(target));
  };
  const handle = async () => (await grpc!).workflow.getHandle(wf.workflowId);
  /** Over HTTP until a transport error; from then on (and for this call) over gRPC. */
  const httpElseGrpc = async <T>(overHttp: () => Promise<T>, overGrpc: () => Promise<T>): Promise<T> => {
    if (!grpc) {
      try {
        return await overHttp();
      } catch (err) {
        if (!(err instanceof TemporalHttpError)) throw err;
        toGrpc(err.message);
      }
    }
    return overGrpc();
  };

  return {
    leaseId: wf.workflowId.replace(/^lease-/, ''),
    workflowId: wf.workflowId,
    via: 'http',
    run: (req: RunRequest, updateId: string): Promise<RunResult> =>
      httpElseGrpc(
        // A long command is a chain of long polls (~20 s each) on the same update id and run.
        () => untilDone<RunResult>(api, wf, MESSAGE_NAMES.runUpdate, updateId, req),
        // Whether the server took the run is unknown here. The gRPC client asks that run for the
        // outcome by id, and sends it only if it was never admitted (and not after a Ctrl-C).
        async () => {
          const { resumeRunUpdate } = await import('./temporal/run-update.js');
          return resumeRunUpdate({ client: await grpc!, workflowId: wf.workflowId, workflowRunId: wf.runId, updateId, req, interrupted });
        },
      ),
    async status(signal: AbortSignal): Promise<LeaseStatus> {
      if (grpc) {
        const { queryStatus } = await import('./lease-client.js');
        return queryStatus(await handle(), signal);
      }
      try {
        return await api.query<LeaseStatus>(wf.workflowId, MESSAGE_NAMES.statusQuery, signal, STATUS_QUERY_TIMEOUT_MS);
      } catch (err) {
        const kind = httpNoAnswer(err);
        if (kind) throw new NoWorkerAnswerError(wf.workflowId, taskQueue, kind === 'none-polling' ? { kind } : { kind, waitedMs: STATUS_QUERY_TIMEOUT_MS });
        throw err;
      }
    },
    cancelRun: (runToCancel: string): Promise<void> =>
      httpElseGrpc(
        () => api.signal(wf.workflowId, MESSAGE_NAMES.cancelRunSignal, { runId: runToCancel }),
        async () => (await handle()).signal(MESSAGE_NAMES.cancelRunSignal, { runId: runToCancel }),
      ),
    clientAccess(req: ClientAccessRequest): Promise<ClientAccess> {
      const updateId = `access-${randomUUID()}`;
      return httpElseGrpc(
        () => untilDone<ClientAccess>(api, wf, MESSAGE_NAMES.clientAccessUpdate, updateId, req),
        async () => (await handle()).executeUpdate<ClientAccess, [ClientAccessRequest]>(MESSAGE_NAMES.clientAccessUpdate, { args: [req], updateId }),
      );
    },
  };
}

/**
 * The workflow a reference names: an id as it is, a slug's running lease, and with no reference the
 * most recent lease if it is running. Undefined leaves the lookup to the gRPC path, which also
 * finds closed leases (to resume, or to read their result).
 */
export async function findLease(api: TemporalHttpApi, ref: string | undefined): Promise<string | undefined> {
  if (ref === undefined) {
    const [latest] = await api.listWorkflows(leasesQuery, LOOKUP_TIMEOUT_MS, 1);
    return latest?.status === RUNNING ? latest.workflowId : undefined;
  }
  const id = workflowIdOfRef(ref);
  if (id) return id;
  const found = await api.listWorkflows(slugQuery(ref), LOOKUP_TIMEOUT_MS);
  return found.find((w) => w.status === RUNNING)?.workflowId;
}

/** What an HTTP API query's error says about the workers (undefined: nothing). */
export function httpNoAnswer(err: unknown): 'none-polling' | 'no-answer' | undefined {
  return err instanceof TemporalHttpError ? noWorkerAnswered(err.code, err.message, false) : undefined;
}

/** The workflow's current run, if it is running. */
export async function describeRunning(api: TemporalHttpApi, workflowId: string): Promise<{ runId?: string; taskQueue?: string } | undefined> {
  const described = await api.describeWorkflow(workflowId, LOOKUP_TIMEOUT_MS);
  return described.status === RUNNING ? { runId: described.runId, taskQueue: described.taskQueue } : undefined;
}

/**
 * Send an update and wait for its outcome. An answer without one means the server's long poll
 * ended with the update admitted, so sending the same id to the same run again only attaches to it.
 */
async function untilDone<T>(api: TemporalHttpApi, wf: { workflowId: string; runId?: string }, name: string, updateId: string, arg: unknown): Promise<T> {
  for (;;) {
    const answer = await api.update<T>(wf, name, updateId, arg);
    if (answer.done) return answer.value as T;
  }
}

/**
 * The gRPC client, retried as the gRPC path retries an unavailable server: the run goes on while
 * the server is away, and the CLI must not give up on it after one connect timeout.
 */
async function connectPatiently(target: TemporalTarget, attempts = 20): Promise<Client> {
  for (let i = 1; ; i++) {
    try {
      return (await connectTo(target)).client;
    } catch (err) {
      if (!(err instanceof CliError) || i >= attempts) throw err;
      await sleep(Math.min(500 * 2 ** (i - 1), 10_000));
    }
  }
}
