/**
 * `durabox status` of a running lease over Temporal's HTTP API, like `run --id` (see
 * lease-channel-http.ts): a lookup, a describe and the status query, with no gRPC client to load.
 * A lease that is not running (its last status is the workflow's result), a server without a known
 * HTTP address, or any error at all returns undefined, and the caller asks over gRPC, which gives
 * the authoritative answer or error.
 */
import { MESSAGE_NAMES } from '../workflows/lease-names.js';
import type { LeaseStatus } from '../workflows/messages.js';
import { describeRunning, findLease, httpNoAnswer } from './lease-channel-http.js';
import { closeAtExit, type TemporalTarget } from './temporal/connect.js';
import { TemporalHttpApi } from './temporal/http-api.js';
import { trace } from './trace.js';

export interface HttpStatusReader {
  /** The lease found: a fallback reads this one over gRPC, not whatever `ref` names by then. */
  workflowId: string;
  /**
   * The lease's status; undefined when it is not running (or the HTTP API would not say);
   * 'none-polling' when the server says no worker polls its queue, 'no-answer' when none answered
   * within `queryTimeoutMs`.
   */
  read(queryTimeoutMs: number): Promise<(LeaseStatus & { workflowStatus: string }) | 'none-polling' | 'no-answer' | undefined>;
}

/** A reader for `ref` (the most recent lease when undefined); undefined when HTTP cannot be used. */
export async function httpStatusReader(target: TemporalTarget, ref: string | undefined): Promise<HttpStatusReader | undefined> {
  const { httpUrl, namespace } = target.cluster;
  if (!httpUrl) return undefined;
  const api = new TemporalHttpApi(new URL(httpUrl), namespace);
  // Its kept-alive sockets close with the command's other connections.
  closeAtExit(api);
  const workflowId = await findLease(api, ref).catch((err: Error) => void trace(`http api: ${err.message}; using gRPC`));
  if (!workflowId) return undefined;
  return {
    workflowId,
    async read(queryTimeoutMs) {
      try {
        if (!(await describeRunning(api, workflowId))) return undefined;
        const status = await api.query<LeaseStatus>(workflowId, MESSAGE_NAMES.statusQuery, undefined, queryTimeoutMs);
        trace('status: http');
        return { ...status, workflowStatus: 'RUNNING' };
      } catch (err) {
        // The server answered the describe: a query that timed out had no worker to answer it.
        const kind = httpNoAnswer(err);
        if (kind) return kind;
        trace(`http api: ${(err as Error).message}; using gRPC`);
        return undefined;
      }
    },
  };
}
