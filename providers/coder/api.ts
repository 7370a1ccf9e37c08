/**
 * The HTTP client for the Coder REST API (`/api/v2`). One place decides how a response becomes an
 * error:
 *
 * - the session token goes only in the `Coder-Session-Token` header, read from `CODER_SESSION_TOKEN`
 *   in the worker's environment at each call; never a query parameter, never argv;
 * - the deployment is `coder.url` (trusted config) or `CODER_URL`: https only (http on loopback);
 * - a call that creates something and fails after the request went out (transport error, 408, 409,
 *   425, 429, 5xx, an unreadable 2xx) is `ambiguous`: the caller looks the workspace up by name;
 * - other calls retry 429/5xx/transport errors a few times, honouring `Retry-After`;
 * - 401/403 are `auth`, non-retryable, with a hint;
 * - no redirects are followed, bodies are capped, and every message is redacted.
 */
import { parseRetryAfter, readCapped, withInlineRetries } from '../common/http.js';
import { request } from 'undici';
import type { z } from 'zod';
import { ProviderError, type ProviderErrorKind } from '../errors.js';
import { coderUrlProblem, normalizeCoderUrl } from './config.js';
import { ErrorBodySchema } from './schemas.js';

export const PROVIDER = 'coder';
export const TOKEN_ENV = 'CODER_SESSION_TOKEN';
export const URL_ENV = 'CODER_URL';
export const TOKEN_HEADER = 'Coder-Session-Token';
const MAYBE_CREATED = new Set([408, 409, 425, 429]);
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

const err = (kind: ProviderErrorKind, operation: string, message: string, leaseId?: string, status?: number) =>
  new ProviderError(kind, redact(message), { provider: PROVIDER, operation, leaseId, status });

export function tokenPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env[TOKEN_ENV] ?? '').trim() !== '';
}

function token(operation: string): string {
  if (!tokenPresent()) throw err('auth', operation, `no Coder session token: set ${TOKEN_ENV} (and ${URL_ENV}) in the worker's environment`);
  return process.env[TOKEN_ENV]!.trim();
}

/** The deployment URL: configured (trusted) or `CODER_URL`; validated and normalized. */
export function resolveUrl(configured: string | undefined, operation: string, env: NodeJS.ProcessEnv = process.env): string {
  if (configured) return configured;
  const v = (env[URL_ENV] ?? '').trim();
  if (!v) throw err('invalid', operation, `no Coder deployment: set ${URL_ENV} in the worker's environment or coder.url in user config`);
  const p = coderUrlProblem(v);
  if (p) throw err('invalid', operation, `${URL_ENV} ${JSON.stringify(v)} ${p}`);
  return normalizeCoderUrl(v);
}

/** Remove the session token (and anything shaped like one) from a message. */
export function redact(text: string): string {
  let out = text;
  const v = process.env[TOKEN_ENV]?.trim();
  if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  return out
    .replace(/(Coder-Session-Token["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1[redacted]')
    .replace(/\b[A-Za-z0-9]{10}-[A-Za-z0-9]{22}\b/g, '[redacted]');
}

export interface CallOptions<T> {
  method: 'GET' | 'POST';
  /** Path under the deployment, e.g. `/api/v2/users/me`. */
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

export type CallResult<T> = { ok: true; status: number; data: T } | { ok: false; status: number; message: string };

export class CoderApi {
  constructor(
    private readonly configuredUrl: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** The deployment this call goes to (re-read each time: the environment is the source). */
  base(operation: string): string {
    return resolveUrl(this.configuredUrl, operation);
  }

  async call<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    return withInlineRetries(() => this.once(o), { retries: o.creates ? 0 : (o.retries ?? 0) });
  }

  /** GET that throws for anything but 2xx or an allowed status. */
  async get<T>(o: Omit<CallOptions<T>, 'method'>): Promise<T> {
    const r = await this.call({ retries: 3, ...o, method: 'GET' });
    if (!r.ok) throw this.err('invalid', { ...o, method: 'GET' }, `${r.status}: ${r.message}`, r.status);
    return r.data;
  }

  private async once<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    const base = this.base(o.operation);
    const u = new URL(base + o.path);
    for (const [k, v] of Object.entries(o.query ?? {})) u.searchParams.set(k, v);
    const headers: Record<string, string> = { [TOKEN_HEADER]: token(o.operation), accept: 'application/json' };
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    let status: number;
    let text: string;
    let retryAfterMs: number | undefined;
    try {
      const res = await request(u.toString(), { method: o.method, headers, body: payload, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      status = res.statusCode;
      retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      text = await readCapped(res.body);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const sent = !NOT_SENT.has(code);
      const kind: ProviderErrorKind = o.creates && sent ? 'ambiguous' : 'transient';
      const what = o.creates && sent ? ' (the request may have been applied)' : '';
      throw this.err(kind, o, `transport error ${code || (e as Error).name}: ${(e as Error).message}${what}`);
    }

    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw this.err(o.creates ? 'ambiguous' : 'invalid', o, `answered ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`, status);
      }
      const parsed = o.schema.safeParse(json);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw this.err(o.creates ? 'ambiguous' : 'invalid', o, `answered ${status} with an unexpected shape at ${i?.path.join('.') || 'body'}: ${i?.message}`, status);
      }
      return { ok: true, status, data: parsed.data };
    }

    const message = errorMessage(text);
    if (o.allow?.includes(status)) return { ok: false, status, message };
    const detail = `${status}: ${message || '(no message)'}`;
    if (status === 401 || status === 403) {
      throw this.err('auth', o, `${detail} (check ${TOKEN_ENV} on the worker: it must be a valid session or API token for ${base})`, status);
    }
    if (status >= 300 && status < 400) throw this.err('invalid', o, `${detail}: refusing to follow a redirect`, status);
    if (MAYBE_CREATED.has(status) || status >= 500) {
      const kind: ProviderErrorKind = o.creates ? 'ambiguous' : 'transient';
      const e = this.err(kind, o, detail + (o.creates ? ' (the request may have been applied)' : ''), status);
      throw new ProviderError(e.kind, e.message, { provider: PROVIDER, operation: o.operation, leaseId: o.leaseId, status, retryAfterMs });
    }
    throw this.err('invalid', o, detail, status);
  }

  err(kind: ProviderErrorKind, o: Pick<CallOptions<unknown>, 'method' | 'path' | 'operation' | 'leaseId'>, detail: string, status?: number): ProviderError {
    return err(kind, o.operation, `Coder ${o.method} ${o.path} → ${detail}`, o.leaseId, status);
  }
}

function errorMessage(text: string): string {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      const v = (parsed.data.validations ?? []).map((x) => `${x.field}: ${x.detail}`).join('; ');
      return [parsed.data.message, parsed.data.detail, v].filter(Boolean).join(' - ');
    }
  } catch {
    /* plain text */
  }
  return text.trim().replace(/\s+/g, ' ').slice(0, 300);
}


