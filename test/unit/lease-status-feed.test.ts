/**
 * The CLI's single status loop and the output follower built on it: a follower told where the run
 * ran does not wait for the lease's status, and no watcher is left waiting when the feed ends.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { followLeaseOutput } from '../../cli/lease-output.js';
import { knownStatus, statusFeed, type StatusQuery } from '../../cli/lease-status-feed.js';
import type { LeaseStatus } from '../../workflows/messages.js';
import { runLogPaths } from '../../cli/run-output.js';

const state = mkdtempSync(join(tmpdir(), 'dbx-feed-'));
/** A lease that never answers; like both real clients, the query gives up when told to. */
const never: StatusQuery = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('given up')), { once: true }));
const noAccess = () => Promise.reject(new Error('no box access in this test'));

beforeAll(() => {
  vi.stubEnv('DURABOX_STATE_DIR', state);
  vi.stubEnv('DURABOX_WORKER_ID', 'w-this');
});
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(state, { recursive: true, force: true });
});

describe('statusFeed', () => {
  it('delivers each answer to every watcher, and a failed query as no answer', async () => {
    let n = 0;
    const feed = statusFeed(async () => {
      if (++n === 1) throw new Error('not started yet');
      return { phase: 'running' } as LeaseStatus;
    }, 10);
    const seen: Array<string | undefined> = [];
    await new Promise<void>((resolve) =>
      feed.watch((s) => {
        seen.push(s?.phase);
        if (s) resolve();
        return !!s;
      }),
    );
    await feed.stop();
    expect(seen).toEqual([undefined, 'running']);
  });

  it('stop() gives pending watchers their last call, and later watchers get it at once', async () => {
    const feed = statusFeed(never);
    const lasts: boolean[] = [];
    feed.watch((_s, last) => (lasts.push(last), last));
    await feed.stop();
    feed.watch((_s, last) => (lasts.push(last), last));
    expect(lasts).toEqual([true, true]);
  });
});

describe('followLeaseOutput', () => {
  let captured = '';
  const origWrite = process.stdout.write.bind(process.stdout);
  afterEach(() => {
    process.stdout.write = origWrite;
  });

  it("prints this machine's output files as soon as the result names this machine's worker", async () => {
    const runId = 'run_feedtest0001';
    const paths = runLogPaths(runId);
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.stdout, 'hello from the run\n');
    writeFileSync(paths.stderr, '');
    process.stdout.write = ((chunk: string | Uint8Array) => {
      captured += Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
    // The lease never answers a status query.
    const feed = statusFeed(never);
    const follower = followLeaseOutput(feed, 'dbx_feedtest', runId, noAccess);
    await follower.finish('durabox@w-this');
    process.stdout.write = origWrite;
    expect(captured).toContain('hello from the run');
    await feed.stop();
  });

  it('without a result to go by, finishing waits for the status, and ends when the feed does', async () => {
    const feed = statusFeed(never);
    const follower = followLeaseOutput(feed, 'dbx_feedtest', 'run_feedtest0002', noAccess);
    let finished = false;
    const finishing = follower.finish().then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(finished).toBe(false);
    await feed.stop();
    await finishing;
    expect(finished).toBe(true);
  });

  it('settles from a status already in hand, without a query loop', async () => {
    const runId = 'run_feedtest0003';
    const paths = runLogPaths(runId);
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.stdout, 'attached output\n');
    captured = '';
    process.stdout.write = ((chunk: string | Uint8Array) => {
      captured += Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
    const status = {
      leaseId: 'dbx_feedtest', slug: 's', provider: 'local', phase: 'running', releaseAction: 'delete', runs: [],
      workerQueue: 'durabox@w-this', target: { user: 'u', host: '127.0.0.1', port: 22, keyPath: '/k', hostKeyAlias: 'a', hostKeys: [], workRoot: '/w' },
    } as unknown as LeaseStatus;
    await followLeaseOutput(knownStatus(status), 'dbx_feedtest', runId, noAccess).finish();
    process.stdout.write = origWrite;
    expect(captured).toContain('attached output');
    // A status naming another machine's worker makes the follower copy from the box (it asks for access).
    let asked = 0;
    const remoteAccess = () => {
      asked++;
      return Promise.reject(new Error('no box in this test'));
    };
    await followLeaseOutput(knownStatus({ ...status, workerQueue: 'durabox@w-other' }), 'dbx_feedtest', 'run_feedtest0005', remoteAccess)
      .finish()
      .catch(() => undefined);
    expect(asked).toBeGreaterThan(0);
    // A status that settles nothing (no box yet) ends the follower rather than leaving it waiting.
    await followLeaseOutput(knownStatus({ ...status, target: undefined, workerQueue: undefined }), 'dbx_feedtest', 'run_feedtest0004', noAccess).finish();
  });
});
