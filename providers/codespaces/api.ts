/**
 * The HTTP client for GitHub's REST API, and where the token comes from. One place decides how a
 * response becomes an error:
 *
 * - token: `GH_TOKEN`, then `GITHUB_TOKEN` from the worker's environment, else the stdout of
 *   `gh auth token --hostname <host>` (gh's own store; captured, never echoed). It goes only into
 *   `Authorization: Bearer`, never a URL, argv, file or log;
 * - headers `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`;
 * - no redirects are followed; pagination follows `Link: rel="next"` only under the API base;
 * - a create that fails after the request went out (transport error, 408, 409, 425, 429, 5xx, an
 *   unreadable 2xx) is `ambiguous`: the caller looks for the display name first;
 * - other calls retry 429/5xx/transport errors a few times, honouring `Retry-After`;
 * - 401 and 403 are `auth` with a scope hint (403 with an exhausted rate limit is `transient`),
 *   409 `conflict`, 422 `invalid`, 503 `transient` with Retry-After; every message is redacted.
 */
import { parseRetryAfter, readCapped, withInlineRetries } from '../common/http.js';
import { request } from 'undici';
import type { z } from 'zod';
import { childEnv } from '../common/child-env.js';
import { runProcess } from '../common/exec.js';
import { ProviderError, type ProviderErrorKind } from '../errors.js';
import { ErrorBodySchema } from './schemas.js';

export const PROVIDER = 'codespaces';
export const TOKEN_ENV_NAMES = ['GH_TOKEN', 'GITHUB_TOKEN'] as const;
/** Every variable gh reads a token from: all are stripped from a gh child before the one it needs is set. */
export const GH_TOKEN_FAMILY = ['GH_TOKEN', 'GITHUB_TOKEN', 'GH_ENTERPRISE_TOKEN', 'GITHUB_ENTERPRISE_TOKEN'] as const;
export const API_VERSION = '2022-11-28';
const MAYBE_CREATED = new Set([408, 409, 425, 429]);
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Where the token comes from. `env` names the variable; `gh` means gh's own store. */
export type TokenSource = { kind: 'env'; name: (typeof TOKEN_ENV_NAMES)[number] } | { kind: 'gh' };

export function envTokenName(env: NodeJS.ProcessEnv = process.env): (typeof TOKEN_ENV_NAMES)[number] | undefined {
  return TOKEN_ENV_NAMES.find((n) => (env[n] ?? '').trim() !== '');
}

/** Tokens this process has seen (for redaction): never logged, only subtracted from text. */
const seenTokens = new Set<string>();

/** Remove tokens (ours, and anything shaped like a GitHub token or a bearer value) from text. */
export function redact(text: string): string {
  let out = text;
  for (const name of GH_TOKEN_FAMILY) {
    const v = process.env[name]?.trim();
    if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  }
  for (const v of seenTokens) out = out.split(v).join('[redacted]');
  return out
    .replace(/Bearer\s+[^\s"',}]+/gi, 'Bearer [redacted]')
    .replace(/\bgithub_pat_[A-Za-z0-9_]+/g, '[redacted]')
    .replace(/\bgh[oprsu]_[A-Za-z0-9]+/g, '[redacted]');
}

export interface Token {
  value: string;
  source: TokenSource;
}

/**
 * Resolves the token for one gh host. `gh auth token` runs with every token variable stripped and
 * only GH_HOST set; its answer is cached in memory for a minute.
 */
export class TokenProvider {
  private cached?: { value: string; at: number };
  constructor(
    readonly ghPath: string,
    readonly ghHost: string,
  ) {}

  async get(operation: string): Promise<Token> {
    const name = envTokenName();
    if (name) {
      const value = process.env[name]!.trim();
      seenTokens.add(value);
      return { value, source: { kind: 'env', name } };
    }
    if (this.cached && Date.now() - this.cached.at < 60_000) return { value: this.cached.value, source: { kind: 'gh' } };
    let res;
    try {
      res = await runProcess(this.ghPath, ['auth', 'token', '--hostname', this.ghHost], { env: ghEnv(this.ghHost), timeoutMs: 15_000 });
    } catch (e) {
      throw new ProviderError('auth', `no GitHub token: set GH_TOKEN or GITHUB_TOKEN on the worker, or install gh and run \`gh auth login\` (${(e as Error).message})`, { provider: PROVIDER, operation });
    }
    const value = res.stdout.trim();
    if (res.code !== 0 || !/^\S{8,}$/.test(value)) {
      throw new ProviderError('auth', `no GitHub token: set GH_TOKEN or GITHUB_TOKEN on the worker, or run \`gh auth login --hostname ${this.ghHost} --scopes codespace\` (gh auth token exited ${res.code})`, { provider: PROVIDER, operation });
    }
    seenTokens.add(value);
    this.cached = { value, at: Date.now() };
    return { value, source: { kind: 'gh' } };
  }
}

/**
 * The environment of a gh child: the worker's minus every credential-looking variable, plus
 * GH_HOST and (when the token came from the environment) exactly one token, as GH_TOKEN.
 */
export function ghEnv(ghHost: string, token?: Token): NodeJS.ProcessEnv {
  const extra: Record<string, string | undefined> = { GH_HOST: ghHost, GH_PROMPT_DISABLED: '1', GH_NO_UPDATE_NOTIFIER: '1' };
  for (const n of GH_TOKEN_FAMILY) extra[n] = undefined;
  if (token?.source.kind === 'env') extra.GH_TOKEN = token.value;
  return childEnv(extra);
}

export interface CallOptions<T> {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path under the API base (`/user/codespaces`), or a full URL under the base (pagination). */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  schema: z.ZodType<T>;
  operation: string;
  leaseId?: string;
  creates?: boolean;
  /** Retry transient failures this many times (idempotent calls only). @default 0 */
  retries?: number;
  /** Non-2xx statuses the caller handles itself (returned, not thrown). */
  allow?: readonly number[];
}

export type CallResult<T> =
  | { ok: true; status: number; data: T; headers: Record<string, string | string[] | undefined> }
  | { ok: false; status: number; message: string };

export interface GitHubApiOptions {
  timeoutMs: number;
  retryBaseMs?: number;
  maxInlineWaitMs?: number;
}

export class GitHubApi {
  constructor(
    readonly base: string,
    readonly tokens: TokenProvider,
    private readonly opts: GitHubApiOptions,
  ) {}

  async call<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    return withInlineRetries(() => this.once(o), { ...this.opts, retries: o.creates ? 0 : (o.retries ?? 0) });
  }

  async get<T>(o: Omit<CallOptions<T>, 'method'>): Promise<T> {
    const r = await this.call({ retries: 3, ...o, method: 'GET' });
    if (!r.ok) throw this.err('invalid', { ...o, method: 'GET' }, `${r.status}: ${r.message}`, r.status);
    return r.data;
  }

  /** Every page of a list, following `Link: rel="next"` only while it stays under the API base. */
  async paginate<T, I>(o: Omit<CallOptions<T>, 'method'>, items: (page: T) => I[], maxPages = 50): Promise<I[]> {
    const out: I[] = [];
    let next: string | undefined = o.path;
    let query = o.query;
    for (let page = 0; next; page++) {
      if (page >= maxPages) throw this.err('invalid', { ...o, method: 'GET' }, `more than ${maxPages} pages`);
      const r = await this.call({ retries: 3, ...o, path: next, query, method: 'GET' });
      if (!r.ok) throw this.err('invalid', { ...o, method: 'GET' }, `${r.status}: ${r.message}`, r.status);
      out.push(...items(r.data));
      next = nextLink(r.headers.link);
      query = undefined; // the next link carries its own query
      if (next && !this.underBase(next)) throw this.err('invalid', { ...o, method: 'GET' }, `refusing a pagination link outside ${this.base}`);
    }
    return out;
  }

  private underBase(url: string): boolean {
    const b = new URL(this.base);
    const u = new URL(url);
    return u.origin === b.origin && (u.pathname === b.pathname || u.pathname.startsWith(`${b.pathname.replace(/\/$/, '')}/`)) && !u.username && !u.password;
  }

  private url(o: CallOptions<unknown>): string {
    const u = /^https?:\/\//.test(o.path) ? new URL(o.path) : new URL(this.base + o.path);
    if (!this.underBase(u.toString())) throw this.err('invalid', o, `refusing a URL outside ${this.base}`);
    for (const [k, v] of Object.entries(o.query ?? {})) u.searchParams.set(k, v);
    return u.toString();
  }

  private async once<T>(o: CallOptions<T>): Promise<CallResult<T>> {
    const token = await this.tokens.get(o.operation);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.value}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': API_VERSION,
      'user-agent': 'durabox',
    };
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    const url = this.url(o);
    let status: number;
    let text: string;
    let resHeaders: Record<string, string | string[] | undefined>;
    try {
      const res = await request(url, { method: o.method, headers, body: payload, headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs });
      status = res.statusCode;
      resHeaders = res.headers;
      text = await readCapped(res.body);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const sent = !NOT_SENT.has(code);
      const kind: ProviderErrorKind = o.creates && sent ? 'ambiguous' : 'transient';
      throw this.err(kind, o, `transport error ${code || (e as Error).name}: ${(e as Error).message}${o.creates && sent ? ' (the request may have been applied)' : ''}`);
    }
    const retryAfterMs = parseRetryAfter(resHeaders['retry-after']);

    if (status >= 200 && status < 300) {
      let json: unknown = null;
      if (text.trim() !== '') {
        try {
          json = JSON.parse(text);
        } catch {
          throw this.err(o.creates ? 'ambiguous' : 'invalid', o, `answered ${status} with a body that is not JSON: ${JSON.stringify(text.slice(0, 120))}`, status);
        }
      }
      const parsed = o.schema.safeParse(json);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw this.err(o.creates ? 'ambiguous' : 'invalid', o, `answered ${status} with an unexpected shape at ${i?.path.join('.') || 'body'}: ${i?.message}`, status);
      }
      return { ok: true, status, data: parsed.data, headers: resHeaders };
    }
    const message = errorMessage(text);
    if (o.allow?.includes(status)) return { ok: false, status, message };
    const detail = `${status}: ${message || '(no message)'}`;
    const where = token.source.kind === 'env' ? token.source.name : '`gh auth token`';
    if (status === 401) throw this.err('auth', o, `${detail} (the token from ${where} is not valid for ${this.base})`, status);
    if (status === 403) {
      if (first(resHeaders['x-ratelimit-remaining']) === '0' || /rate limit/i.test(message)) {
        throw this.err('transient', o, `${detail} (rate limited)`, status, retryAfterMs ?? rateLimitReset(resHeaders));
      }
      throw this.err('auth', o, `${detail} (the token from ${where} needs the \`codespace\` scope, or Codespaces read/write permission for a fine-grained token: gh auth refresh -h <host> -s codespace)`, status);
    }
    if (status >= 300 && status < 400) throw this.err('invalid', o, `${detail}: refusing to follow a redirect`, status);
    if (MAYBE_CREATED.has(status) || status >= 500) {
      const kind: ProviderErrorKind = o.creates ? 'ambiguous' : status === 409 ? 'conflict' : 'transient';
      const hint = status === 503 && retryAfterMs !== undefined ? ` (retry after ${Math.round(retryAfterMs / 1000)} s)` : '';
      throw this.err(kind, o, detail + hint + (o.creates ? ' (the request may have been applied)' : ''), status, undefined, retryAfterMs);
    }
    if (status === 404) throw this.err('invalid', o, `${detail} (not found, or the token cannot see it)`, status);
    throw this.err('invalid', o, detail, status);
  }

  err(
    kind: ProviderErrorKind,
    o: Pick<CallOptions<unknown>, 'method' | 'path' | 'operation' | 'leaseId'>,
    detail: string,
    status?: number,
    _cause?: unknown,
    retryAfterMs?: number,
  ): ProviderError {
    const path = /^https?:\/\//.test(o.path) ? new URL(o.path).pathname : o.path;
    return new ProviderError(kind, redact(`GitHub ${o.method} ${path} → ${detail}`), { provider: PROVIDER, operation: o.operation, leaseId: o.leaseId, status, retryAfterMs });
  }
}

const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h);

function rateLimitReset(h: Record<string, string | string[] | undefined>): number | undefined {
  const r = Number(first(h['x-ratelimit-reset']));
  return Number.isFinite(r) && r > 0 ? Math.max(0, r * 1000 - Date.now()) : undefined;
}

/** The `rel="next"` target of a Link header. */
export function nextLink(h: string | string[] | undefined): string | undefined {
  const v = first(h);
  if (!v) return undefined;
  for (const part of v.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2]!.split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}

function errorMessage(text: string): string {
  try {
    const p = ErrorBodySchema.safeParse(JSON.parse(text));
    if (p.success && (p.data.message || p.data.code)) return [p.data.code, p.data.message].filter(Boolean).join(': ');
  } catch {
    /* plain text */
  }
  return text.trim().replace(/\s+/g, ' ').slice(0, 300);
}


