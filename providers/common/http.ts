/**
 * HTTP pieces every control-plane client shares (vast, codespaces, coder): a bounded body reader,
 * `Retry-After` parsing, and the in-call retry loop for transient failures. Each provider keeps its
 * own request shaping, auth header and error mapping.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProviderError } from '../errors.js';

/** Responses larger than this are refused: no control-plane answer we read is anywhere near it. */
export const MAX_BODY = 8 * 1024 * 1024;

/** `Retry-After` as seconds or an HTTP date → milliseconds from `now`. */
export function parseRetryAfter(h: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export async function readCapped(body: AsyncIterable<Buffer | Uint8Array> & { destroy?: () => void }, max = MAX_BODY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > max) {
      body.destroy?.();
      throw Object.assign(new Error(`response larger than ${max} bytes`), { code: 'BODY_TOO_LARGE' });
    }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface InlineRetry {
  /** Retries after the first try (0 for calls that create: an ambiguous create is never repeated blind). */
  retries: number;
  /** First backoff step. @default 500 */
  retryBaseMs?: number;
  /** Longest wait (Retry-After or backoff) slept through here; longer ones go to Temporal. @default 10000 */
  maxInlineWaitMs?: number;
}

/** Repeat `once` on transient provider errors within one activity call, honouring Retry-After. */
export async function withInlineRetries<T>(once: () => Promise<T>, o: InlineRetry): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once();
    } catch (e) {
      const pe = e as ProviderError;
      if (pe.kind !== 'transient' || attempt >= o.retries) throw e;
      const wait = pe.retryAfterMs ?? Math.min((o.retryBaseMs ?? 500) * 2 ** attempt, 8_000);
      if (wait > (o.maxInlineWaitMs ?? 10_000)) throw e;
      await sleep(wait);
    }
  }
}
