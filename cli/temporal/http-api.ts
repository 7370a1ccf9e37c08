/**
 * The Temporal frontend's HTTP API (its grpc-gateway JSON under `/api/v1`), for the one CLI path
 * where the gRPC client's own start-up is most of the wait: a run on a lease that is already up.
 * In a fresh process, loading `@temporalio/client` and making its first call costs 0.4–0.6 s
 * (protobuf reflection and codegen, grpc-js); a request here costs milliseconds.
 *
 * Payloads travel in their full form (`json/plain`, base64 data) with `noPayloadShorthand`, which is
 * exactly what the SDK's default data converter writes and reads, so both clients see the same
 * history. Only plain HTTP: a cluster reached with TLS or an API key keeps the gRPC client.
 */
import http from 'node:http';

/** gRPC status codes the HTTP API reports in its error bodies. */
export const GrpcCode = { deadlineExceeded: 4, unavailable: 14 } as const;

/** A non-2xx answer: the gRPC code and message from the error body (or the transport's error). */
export class TemporalHttpError extends Error {
  override name = 'TemporalHttpError';
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly httpStatus: number | undefined,
  ) {
    super(message);
  }
}

/** A workflow-side failure (an update's or query's), with the ApplicationFailure's type and causes. */
export class TemporalHttpFailure extends Error {
  override name = 'TemporalHttpFailure';
  readonly type?: string;
  readonly nonRetryable?: boolean;
  constructor(f: WireFailure, depth = 0) {
    super(f.message ?? 'workflow failure', f.cause && depth < 8 ? { cause: new TemporalHttpFailure(f.cause, depth + 1) } : undefined);
    this.type = f.applicationFailureInfo?.type;
    this.nonRetryable = f.applicationFailureInfo?.nonRetryable;
  }
}

interface WirePayload {
  metadata?: Record<string, string>;
  data?: string;
}
interface WirePayloads {
  payloads?: WirePayload[];
}
interface WireFailure {
  message?: string;
  cause?: WireFailure;
  applicationFailureInfo?: { type?: string; nonRetryable?: boolean };
}

const JSON_PLAIN = Buffer.from('json/plain').toString('base64');

export function encodePayload(value: unknown): WirePayload {
  return { metadata: { encoding: JSON_PLAIN }, data: Buffer.from(JSON.stringify(value)).toString('base64') };
}

/** The first payload's value; only json/plain (and binary/null for an undefined value) is ours. */
export function decodePayloads<T>(p: WirePayloads | undefined): T {
  const first = p?.payloads?.[0];
  if (!first) return undefined as T;
  const encoding = Buffer.from(first.metadata?.encoding ?? '', 'base64').toString();
  if (encoding === 'binary/null') return undefined as T;
  if (encoding !== 'json/plain') throw new TemporalHttpError(`unexpected payload encoding ${JSON.stringify(encoding)}`, undefined, undefined);
  return JSON.parse(Buffer.from(first.data ?? '', 'base64').toString('utf8')) as T;
}

const UPDATE_COMPLETED = 'UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED';

export interface UpdateAnswer<T> {
  /** True once the update completed (a failed one is thrown by `update`); false when the server's long poll ended first. */
  done: boolean;
  value?: T;
}

export class TemporalHttpApi {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    /** `http://host:port` */
    readonly base: URL,
    readonly namespace: string,
    private readonly identity = `durabox-cli@${process.pid}`,
  ) {
    if (base.protocol !== 'http:') throw new TemporalHttpError(`Temporal HTTP API ${base.href}: only http:// is supported`, undefined, undefined);
  }

  close(): void {
    this.agent.destroy();
  }

  private ns(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.namespace)}`;
  }

  private wf(workflowId: string): string {
    return `${this.ns()}/workflows/${encodeURIComponent(workflowId)}`;
  }

  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const sep = path.includes('?') ? '&' : '?';
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          // URL keeps an IPv6 literal in brackets; the socket wants it bare.
          host: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: this.base.port || 80,
          method,
          path: `${path}${sep}noPayloadShorthand`,
          agent: this.agent,
          signal: opts.signal,
          timeout: opts.timeoutMs ?? 70_000,
          headers: { accept: 'application/json', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          // A connection cut mid-answer is a transport error like any other (the caller may retry).
          res.on('error', (err: Error) => reject(new TemporalHttpError(err.message, GrpcCode.unavailable, res.statusCode)));
          res.on('end', () => {
            if (!res.complete) return reject(new TemporalHttpError('answer cut short', GrpcCode.unavailable, res.statusCode));
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              return reject(new TemporalHttpError(`HTTP ${res.statusCode} from ${this.base.host}: ${text.slice(0, 200)}`, undefined, res.statusCode));
            }
            if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) return resolve(parsed as T);
            const err = parsed as { code?: number; message?: string };
            reject(new TemporalHttpError(err.message ?? `HTTP ${res.statusCode}`, err.code, res.statusCode));
          });
        },
      );
      req.on('timeout', () => req.destroy(new TemporalHttpError(`no answer from ${this.base.host} in time`, GrpcCode.deadlineExceeded, undefined)));
      req.on('error', (err: Error) => reject(err instanceof TemporalHttpError ? err : new TemporalHttpError(err.message, GrpcCode.unavailable, undefined)));
      req.end(data);
    });
  }

  /** Custom search attributes: name → indexed value type (`INDEXED_VALUE_TYPE_KEYWORD`, …). */
  async searchAttributes(timeoutMs: number): Promise<Record<string, string>> {
    const res = await this.request<{ customAttributes?: Record<string, string> }>('GET', `${this.ns()}/search-attributes`, undefined, { timeoutMs });
    return res.customAttributes ?? {};
  }

  async describeWorkflow(workflowId: string, timeoutMs: number): Promise<{ status: string; runId?: string; taskQueue?: string }> {
    const res = await this.request<{ workflowExecutionInfo?: { status?: string; execution?: { runId?: string } }; executionConfig?: { taskQueue?: { name?: string } } }>(
      'GET',
      this.wf(workflowId),
      undefined,
      { timeoutMs },
    );
    return {
      status: res.workflowExecutionInfo?.status ?? 'WORKFLOW_EXECUTION_STATUS_UNSPECIFIED',
      runId: res.workflowExecutionInfo?.execution?.runId,
      taskQueue: res.executionConfig?.taskQueue?.name,
    };
  }

  /** Workflow ids and statuses matching a visibility query, newest first (one page). */
  async listWorkflows(query: string, timeoutMs: number, pageSize = 100): Promise<Array<{ workflowId: string; status: string }>> {
    const qs = new URLSearchParams({ query, pageSize: String(pageSize) });
    const res = await this.request<{ executions?: Array<{ execution?: { workflowId?: string }; status?: string }> }>('GET', `${this.ns()}/workflows?${qs}`, undefined, { timeoutMs });
    return (res.executions ?? []).map((e) => ({ workflowId: e.execution?.workflowId ?? '', status: e.status ?? '' }));
  }

  async query<T>(workflowId: string, queryType: string, signal?: AbortSignal, timeoutMs = 30_000): Promise<T> {
    const res = await this.request<{ queryResult?: WirePayloads; queryRejected?: { status?: string } }>(
      'POST',
      `${this.wf(workflowId)}/query/${encodeURIComponent(queryType)}`,
      { execution: { workflowId }, query: { queryType } },
      { signal, timeoutMs },
    );
    if (res.queryRejected) throw new TemporalHttpError(`query rejected (workflow ${res.queryRejected.status ?? 'closed'})`, undefined, undefined);
    return decodePayloads<T>(res.queryResult);
  }

  async signal(workflowId: string, name: string, arg: unknown): Promise<void> {
    await this.request('POST', `${this.wf(workflowId)}/signal/${encodeURIComponent(name)}`, {
      workflowExecution: { workflowId },
      signalName: name,
      input: { payloads: [encodePayload(arg)] },
      identity: this.identity,
    });
  }

  /**
   * Send an update (or attach to the one with this id) and wait for it to complete, for as long as
   * the server's long poll lasts (about 20 s). A failed update throws its failure. `runId` pins the
   * workflow run: the server dedupes update ids within one run, so a resend must not reach the next
   * run of a workflow that has continued as new.
   */
  async update<T>(workflow: { workflowId: string; runId?: string }, name: string, updateId: string, arg: unknown): Promise<UpdateAnswer<T>> {
    const { workflowId, runId } = workflow;
    const res = await this.request<{ outcome?: { success?: WirePayloads; failure?: WireFailure } }>(
      'POST',
      `${this.wf(workflowId)}/update/${encodeURIComponent(name)}`,
      {
        workflowExecution: { workflowId, ...(runId ? { runId } : {}) },
        waitPolicy: { lifecycleStage: UPDATE_COMPLETED },
        request: { meta: { updateId, identity: this.identity }, input: { name, args: { payloads: [encodePayload(arg)] } } },
      },
    );
    if (res.outcome?.failure) throw new TemporalHttpFailure(res.outcome.failure);
    if (res.outcome) return { done: true, value: decodePayloads<T>(res.outcome.success) };
    return { done: false };
  }
}
