/**
 * One status-query loop per lease for everything in a command that watches it (progress lines,
 * where the output is). The server buffers one consistent query per workflow while a workflow task
 * is in flight and answers a second with RESOURCE_EXHAUSTED, which the client retries only after
 * about a second: two loops of our own used to collide on every run update and delay the exit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LeaseStatus } from '../workflows/messages.js';

/** One status query, given up when `signal` fires (the gRPC or the HTTP client's). */
export type StatusQuery = (signal: AbortSignal) => Promise<LeaseStatus>;

/**
 * Called with each answer (undefined when the query failed, with the query's error); returns true
 * when it has seen enough. `last` is set on the final call, when the feed stops.
 */
export type StatusListener = (status: LeaseStatus | undefined, last: boolean, error?: unknown) => boolean;

export interface StatusFeed {
  watch(listener: StatusListener): void;
  /** Stop asking; resolves once no query of ours is in flight. */
  stop(): Promise<void>;
}

/** A listener that throws has seen enough: it must not stop the others or spin the loop. */
function deliver(l: StatusListener, status: LeaseStatus | undefined, last: boolean, error?: unknown): boolean {
  try {
    return l(status, last, error);
  } catch {
    return true;
  }
}

export function statusFeed(query: StatusQuery, intervalMs = 300): StatusFeed {
  const listeners = new Set<StatusListener>();
  const abort = new AbortController();
  let loop: Promise<void> | undefined;

  const endAll = () => {
    const left = [...listeners];
    listeners.clear();
    for (const l of left) deliver(l, undefined, true);
  };
  const run = async () => {
    while (listeners.size > 0 && !abort.signal.aborted) {
      let error: unknown;
      const st = await query(abort.signal).catch((err: unknown) => void (error = err));
      if (abort.signal.aborted) return;
      for (const l of [...listeners]) if (deliver(l, st ?? undefined, false, error)) listeners.delete(l);
      if (listeners.size === 0) return;
      await sleep(intervalMs, undefined, { signal: abort.signal }).catch(() => undefined);
    }
  };
  const ensureLoop = () => {
    // Started on the next tick so listeners added in the same tick share the first answer.
    loop ??= Promise.resolve()
      .then(run)
      .catch(() => sleep(intervalMs))
      .finally(() => {
        loop = undefined;
        if (listeners.size > 0 && !abort.signal.aborted) ensureLoop();
      });
  };

  return {
    watch(listener) {
      if (abort.signal.aborted) return void deliver(listener, undefined, true);
      listeners.add(listener);
      ensureLoop();
    },
    async stop() {
      abort.abort();
      endAll();
      // A query the client is retrying cannot be cancelled (its retry is a new call): wait for it,
      // because closing the connection under it would throw from the retry's timer.
      await loop;
    },
  };
}

/**
 * A feed that answers once with a status already in hand: for commands that poll the lease
 * themselves (attach, logs -f) and must not add a second query loop beside theirs.
 */
export function knownStatus(status: LeaseStatus): StatusFeed {
  return {
    watch(listener) {
      if (!deliver(listener, status, false)) deliver(listener, undefined, true);
    },
    async stop() {},
  };
}
