/**
 * `durabox run --id` on a lease that is up, over Temporal's HTTP API: no SDK to load, so the CLI's
 * own part of a rerun is a few milliseconds of requests instead of half a second of start-up.
 *
 * Only the common case comes this way. A lease that is not running (resume) or not found, a server
 * without a known HTTP address, or any doubt before the run is sent (a transport error) returns
 * undefined, and the caller takes the gRPC path for the whole command. Once the run is sent, an RPC timeout or
 * a dropped connection hands its outcome to the gRPC client's durable wait (by update id), so a run
 * is never sent twice and never lost.
 */
import { randomUUID } from 'node:crypto';
import { MESSAGE_NAMES } from '../workflows/lease-names.js';
import type { ClientAccess, LeaseStatus, RunRequest, RunResult } from '../workflows/messages.js';
import type { LeaseChannel } from './lease-channel.js';
import { slugQuery, workflowIdOfRef } from './lease-refs.js';
import { closeAtExit, connectTo, type TemporalTarget } from './temporal/connect.js';
import { TemporalHttpApi, TemporalHttpError } from './temporal/http-api.js';
import { trace } from './trace.js';

const RUNNING = 'WORKFLOW_EXECUTION_STATUS_RUNNING';

export async function httpLeaseChannel(target: TemporalTarget, ref: string, interrupted: () => boolean): Promise<LeaseChannel | undefined> {
  const { httpUrl, namespace } = target.cluster;
  if (!httpUrl) return undefined;
  const api = new TemporalHttpApi(new URL(httpUrl), namespace);
  closeAtExit(api);
  let workflowId: string | undefined;
  try {
    workflowId = workflowIdOfRef(ref) ?? (await runningBySlug(api, ref));
    if (!workflowId) return undefined;
    const { status } = await api.describeWorkflow(workflowId);
    // Resuming a stopped lease starts a workflow: the gRPC path's job.
    if (status !== RUNNING) return undefined;
  } catch (err) {
    // Not even "not found" is taken from here: a server without the HTTP API answers 404 for every
    // path. The gRPC path gives the authoritative answer.
    trace(`http api: ${(err as Error).message}; using gRPC`);
    return undefined;
  }
  const id = workflowId;
  return {
    leaseId: id.replace(/^lease-/, ''),
    workflowId: id,
    via: 'http',
    run: (req, runId) => runOverHttp(api, target, id, req, runId, interrupted),
    status: (signal) => api.query<LeaseStatus>(id, MESSAGE_NAMES.statusQuery, signal),
    cancelRun: (runId) => api.signal(id, MESSAGE_NAMES.cancelRunSignal, { runId }),
    clientAccess: (req) => untilDone<ClientAccess>(api, id, MESSAGE_NAMES.clientAccessUpdate, `access-${randomUUID()}`, req),
  };
}

/** The running lease with this slug (a closed one is resumed by the gRPC path). */
async function runningBySlug(api: TemporalHttpApi, slug: string): Promise<string | undefined> {
  const found = await api.listWorkflows(slugQuery(slug));
  return found.find((w) => w.status === RUNNING)?.workflowId;
}

/**
 * Send an update and wait for its outcome. An answer without one means the server's long poll
 * ended with the update admitted, so sending the same id again only attaches to it.
 */
async function untilDone<T>(api: TemporalHttpApi, workflowId: string, name: string, updateId: string, arg: unknown): Promise<T> {
  for (;;) {
    const answer = await api.update<T>(workflowId, name, updateId, arg);
    if (answer.done) return answer.value as T;
  }
}

async function runOverHttp(api: TemporalHttpApi, target: TemporalTarget, workflowId: string, req: RunRequest, runId: string, interrupted: () => boolean): Promise<RunResult> {
  try {
    // A long command is a chain of long polls (~20 s each) on the same update id.
    return await untilDone<RunResult>(api, workflowId, MESSAGE_NAMES.runUpdate, runId, req);
  } catch (err) {
    if (!(err instanceof TemporalHttpError)) throw err;
    trace(`http api: ${err.message}; waiting for the run over gRPC`);
  }
  // A transport error or RPC timeout: whether the server took the run is unknown here. The gRPC
  // client asks by id, and sends it only if it was never admitted (and not after a Ctrl-C).
  const { client } = await connectTo(target);
  const { resumeRunUpdate } = await import('./temporal/run-update.js');
  return resumeRunUpdate({ client, workflowId, updateId: runId, req, interrupted });
}
