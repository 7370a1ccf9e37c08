/**
 * `durabox status` of a running lease over Temporal's HTTP API, like `run --id` (see
 * lease-channel-http.ts): a lookup, a describe and the status query, with no gRPC client to load.
 * A lease that is not running (its last status is the workflow's result), a server without a known
 * HTTP address, or any error at all returns undefined, and the caller asks over gRPC, which gives
 * the authoritative answer or error.
 */
import { LEASE_WORKFLOW_TYPE, MESSAGE_NAMES } from '../workflows/lease-names.js';
import type { LeaseStatus } from '../workflows/messages.js';
import { LOOKUP_TIMEOUT_MS, RUNNING, runningBySlug } from './lease-channel-http.js';
import { quoteValue, workflowIdOfRef } from './lease-refs.js';
import type { TemporalTarget } from './temporal/connect.js';
import { TemporalHttpApi } from './temporal/http-api.js';
import { trace } from './trace.js';

export interface HttpStatusReader {
  /** The lease found: a fallback reads this one over gRPC, not whatever `ref` names by then. */
  workflowId: string;
  /** The lease's status, or undefined when it is not running (or the HTTP API would not say). */
  read(): Promise<(LeaseStatus & { workflowStatus: string }) | undefined>;
  close(): void;
}

/** A reader for `ref` (the most recent lease when undefined); undefined when HTTP cannot be used. */
export async function httpStatusReader(target: TemporalTarget, ref: string | undefined): Promise<HttpStatusReader | undefined> {
  const { httpUrl, namespace } = target.cluster;
  if (!httpUrl) return undefined;
  const api = new TemporalHttpApi(new URL(httpUrl), namespace);
  let workflowId: string | undefined;
  try {
    workflowId = ref === undefined ? await mostRecentRunning(api) : (workflowIdOfRef(ref) ?? (await runningBySlug(api, ref)));
  } catch (err) {
    trace(`http api: ${(err as Error).message}; using gRPC`);
  }
  if (!workflowId) {
    api.close();
    return undefined;
  }
  const id = workflowId;
  return {
    workflowId: id,
    async read() {
      try {
        if ((await api.describeWorkflow(id, LOOKUP_TIMEOUT_MS)).status !== RUNNING) return undefined;
        const status = await api.query<LeaseStatus>(id, MESSAGE_NAMES.statusQuery);
        trace('status: http');
        return { ...status, workflowStatus: 'RUNNING' };
      } catch (err) {
        trace(`http api: ${(err as Error).message}; using gRPC`);
        return undefined;
      }
    },
    close: () => api.close(),
  };
}

/** The most recently started lease, if it is running (a closed one is read over gRPC). */
async function mostRecentRunning(api: TemporalHttpApi): Promise<string | undefined> {
  const [latest] = await api.listWorkflows(`WorkflowType = ${quoteValue(LEASE_WORKFLOW_TYPE)}`, LOOKUP_TIMEOUT_MS, 1);
  return latest?.status === RUNNING ? latest.workflowId : undefined;
}
