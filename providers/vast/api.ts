/**
 * The HTTP client for the Vast.ai REST API. One place decides how a response becomes an error:
 *
 * - the key goes only in `Authorization: Bearer`, read from the environment at each call
 *   (`VAST_API_KEY`, then `DURABOX_VAST_API_KEY`); never the `api_key` query parameter;
 * - a call that creates something and fails after the request went out (transport error, 408, 409,
 *   425, 429, 5xx, an unreadable 2xx) is `ambiguous`: the caller looks for the label first;
 * - other calls retry 429/5xx/transport errors a few times, honouring `Retry-After`; a longer wait
 *   than we hold an activity for is handed to Temporal as `retryAfterMs`;
 * - 401/403 (and Vast's "404 Invalid user key") are `auth`, non-retryable, with a hint;
 * - a body that is not JSON, or not the documented shape, is `invalid` with the status;
 * - no redirects are followed, bodies are capped, and every message is redacted.
 */
import { parseRetryAfter, readCapped, withInlineRetries } from '../common/http.js';
import { request } from 'undici';
import type { z } from 'zod';
import { ProviderError, type ProviderErrorKind } from '../errors.js';
import { ErrorBodySchema } from './schemas.js';

export const PROVIDER = 'vast';
export const KEY_ENV_NAMES = ['VAST_API_KEY', 'DURABOX_VAST_API_KEY'] as const;
/** Statuses after which a create may have happened (providers.md 1.3). */
const MAYBE_CREATED = new Set([408, 409, 425, 429]);
/** Connection never established: the request did not go out. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Which variable holds the key, by name only (doctor prints this). */
export function keySource(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return KEY_ENV_NAMES.find((n) => (env[n] ?? '').trim() !== '');
}

function apiKey(operation: string): string {
  const name = keySource();
  if (!name) {
    throw new ProviderError('auth', `no Vast API key: set ${KEY_ENV_NAMES.join(' or ')} in the worker's environment`, { provider: PROVIDER, operation });
  }
  return process.env[name]!.trim();
}

/** Remove the key (and anything that looks like a bearer value or an api_key parameter). */
export function redact(text: string): string {
  let out = text;
  for (const name of KEY_ENV_NAMES) {
    const v = process.env[name]?.trim();
    if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  }
  return out
    .replace(/Bearer\s+[^\s"',}]+/gi, 'Bearer [redacted]')
    .replace(/(api_key=)[^&\s"']+/gi, '$1[redacted]')
    .replace(/\b[a-f0-9]{64}\b/gi, '[redacted]');
}

export interface CallOptions<T> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path under the API root, e.g. `/api/v0/users/current/`. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  schema: z.ZodType<T>;
  operation: string;
  leaseId?: string;
  /** The call creates something: failures after the request went out are `ambiguous`, never retried here. */
  creates?: boolean;
  /** Retry transient failures this many times (idempotent calls only). @default 0 */
  retries?: number;
  /** Non-2xx statuses the caller handles itself (returned, not thrown). */
  allow?: readonly number[];
}

export type CallResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; code: string; message: string };

export interface VastApiOptions {
  timeoutMs: number;
  /** First internal backoff step. @default 500 */
  retryBaseMs?: number;
  /** Longest Retry-After we sleep through inside one call; longer waits go to Temporal. @default 10000 */
  maxInlineWaitMs?: number;
}

export class VastApi {
  constructor(
    readonly root: string,
    private readonly opts: VastApiOptions,
  ) {}

  async call<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    return withInlineRetries(() => this.once(o), { ...this.opts, retries: o.creates ? 0 : (o.retries ?? 0) });
  }

  /** Throws for anything but 2xx or an allowed status. */
  async get<T>(o: Omit<CallOptions<T>, 'method'>): Promise<T> {
    const r = await this.call({ retries: 3, ...o, method: 'GET' });
    if (!r.ok) throw this.err('invalid', { ...o, method: 'GET' }, `${r.status} ${r.code}: ${r.message}`, r.status);
    return r.data;
  }

  private url(o: CallOptions<unknown>): string {
    const u = new URL(this.root + o.path);
    for (const [k, v] of Object.entries(o.query ?? {})) u.searchParams.set(k, v);
    return u.toString();
  }

  private async once<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    const key = apiKey(o.operation);
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, accept: 'application/json' };
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    let status: number;
    let text: string;
    let retryAfterMs: number | undefined;
    try {
      const res = await request(this.url(o), {
        method: o.method,
        headers,
        body: payload,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      status = res.statusCode;
      retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      text = await readCapped(res.body);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const sent = !NOT_SENT.has(code);
      const kind: ProviderErrorKind = o.creates && sent ? 'ambiguous' : 'transient';
      const what = o.creates && sent ? ' (the request may have been applied)' : '';
      throw this.err(kind, o, `transport error ${code || (e as Error).name}: ${(e as Error).message}${what}`, undefined, e);
    }

    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        const kind = o.creates ? 'ambiguous' : 'invalid';
        throw this.err(kind, o, `answered ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`, status);
      }
      const parsed = o.schema.safeParse(json);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        const kind = o.creates ? 'ambiguous' : 'invalid';
        throw this.err(kind, o, `answered ${status} with an unexpected shape at ${i?.path.join('.') || 'body'}: ${i?.message}`, status);
      }
      return { ok: true, status, data: parsed.data };
    }

    const { code, message } = errorBody(text);
    if (o.allow?.includes(status) && !(status === 404 && /invalid user key/i.test(message))) {
      return { ok: false, status, code, message };
    }
    const detail = `${status}${code ? ` ${code}` : ''}: ${message || '(no message)'}`;
    if (status === 401 || status === 403 || (status === 404 && /invalid user key/i.test(message))) {
      throw this.err('auth', o, `${detail} (check the key in ${KEY_ENV_NAMES.join(' / ')} on the worker: it must be a valid Vast API key for this account)`, status);
    }
    if (status >= 300 && status < 400) throw this.err('invalid', o, `${detail}: refusing to follow a redirect`, status);
    if (MAYBE_CREATED.has(status) || status >= 500) {
      const kind: ProviderErrorKind = o.creates ? 'ambiguous' : 'transient';
      throw this.err(kind, o, detail + (o.creates ? ' (the request may have been applied)' : ''), status, undefined, retryAfterMs);
    }
    throw this.err('invalid', o, detail, status);
  }

  err(
    kind: ProviderErrorKind,
    o: Pick<CallOptions<unknown>, 'method' | 'path' | 'operation' | 'leaseId'>,
    detail: string,
    status?: number,
    cause?: unknown,
    retryAfterMs?: number,
  ): ProviderError {
    // The cause is dropped when it might echo request details; the message carries what matters.
    void cause;
    return new ProviderError(kind, redact(`Vast ${o.method} ${o.path} → ${detail}`), {
      provider: PROVIDER,
      operation: o.operation,
      leaseId: o.leaseId,
      status,
      retryAfterMs,
    });
  }
}

function errorBody(text: string): { code: string; message: string } {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      return { code: parsed.data.error ?? '', message: parsed.data.msg ?? parsed.data.detail ?? '' };
    }
  } catch {
    /* plain text, e.g. "API requests too frequent" */
  }
  return { code: '', message: text.trim().replace(/\s+/g, ' ').slice(0, 300) };
}

/** Seconds or an HTTP date → milliseconds (undefined when absent or unreadable). */

