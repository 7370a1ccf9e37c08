/**
 * The background-worker launcher, with a stand-in `main.js` (the real worker is tested elsewhere):
 * detached start, the ready marker, reuse, restart on a new target, stale pid files, and the
 * one-line errors when the worker dies or never gets ready.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBackgroundWorker, stopBackgroundWorker, workerStatus } from '../../cli/temporal/dev-server.js';
import { isAlive } from '../../cli/temporal/proc.js';

const FAKE_MAIN = `
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
if (process.argv[2] !== 'worker') process.exit(2);
const mode = process.env.FAKE_WORKER_MODE || 'ok';
if (mode === 'crash') { console.error('fake worker: cannot reach Temporal'); process.exit(3); }
console.log(JSON.stringify({ address: process.env.TEMPORAL_ADDRESS, namespace: process.env.TEMPORAL_NAMESPACE,
  taskQueue: process.env.DURABOX_TASK_QUEUE, stateDir: process.env.DURABOX_STATE_DIR }));
if (mode === 'ok') writeFileSync(join(process.env.DURABOX_STATE_DIR, 'worker', 'ready'), String(process.pid));
setInterval(() => {}, 60000);
`;

describe('background worker launcher', () => {
  const saved = { ...process.env };
  let root: string;
  let mainScript: string;
  const target = { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'q1' };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'durabox-worker-'));
    mkdirSync(join(root, 'bin'));
    mainScript = join(root, 'bin', 'main.js');
    writeFileSync(mainScript, FAKE_MAIN);
    process.env.DURABOX_STATE_DIR = join(root, 'state');
    delete process.env.FAKE_WORKER_MODE;
  });

  afterAll(async () => {
    await stopBackgroundWorker({ graceMs: 2000 }).catch(() => undefined);
    process.env = saved;
    rmSync(root, { recursive: true, force: true });
  });

  const workerFile = (name: string) => join(root, 'state', 'worker', name);

  it('starts detached with the target in its env, then is reused', async () => {
    const first = await ensureBackgroundWorker({ ...target, mainScript });
    expect(first.started).toBe(true);
    expect(isAlive(first.pid)).toBe(true);
    const log = readFileSync(workerFile('worker.log'), 'utf8');
    expect(log).toContain(`"taskQueue":"q1"`);
    expect(log).toContain(`"stateDir":${JSON.stringify(join(root, 'state'))}`);

    expect(await workerStatus()).toMatchObject({ running: true, ready: true, pid: first.pid, taskQueue: 'q1' });
    expect(await ensureBackgroundWorker({ ...target, mainScript })).toEqual({ pid: first.pid, started: false });
  });

  it('replaces a worker that serves another task queue', async () => {
    const old = (await workerStatus()).pid!;
    const next = await ensureBackgroundWorker({ ...target, taskQueue: 'q2', mainScript });
    expect(next.started).toBe(true);
    expect(next.pid).not.toBe(old);
    expect(isAlive(old)).toBe(false);
  });

  it('replaces a worker of an earlier build of the same entry point', async () => {
    const old = (await workerStatus()).pid!;
    const q2 = { ...target, taskQueue: 'q2', mainScript };
    expect(await ensureBackgroundWorker(q2)).toEqual({ pid: old, started: false });
    // A rebuild rewrites the entry: another mtime (and here size).
    writeFileSync(mainScript, `${FAKE_MAIN}\n// rebuilt\n`);
    const logs: string[] = [];
    const next = await ensureBackgroundWorker({ ...q2, log: (l) => logs.push(l) });
    expect(next.started).toBe(true);
    expect(next.pid).not.toBe(old);
    expect(isAlive(old)).toBe(false);
    expect(logs.join('\n')).toMatch(/restarting the background worker \(pid \d+\): durabox was rebuilt/);
    expect(await ensureBackgroundWorker(q2)).toEqual({ pid: next.pid, started: false });
  });

  it('does not trust or signal a pid file naming another process', async () => {
    const real = readFileSync(workerFile('worker.pid'), 'utf8');
    writeFileSync(workerFile('worker.pid'), `${process.pid}\n`);
    expect(await workerStatus()).toMatchObject({ running: false, stalePid: process.pid });
    writeFileSync(workerFile('worker.pid'), real);

    const stopped = await stopBackgroundWorker();
    expect(stopped).toMatchObject({ stopped: true, pid: Number(real), forced: false });
    expect(isAlive(Number(real))).toBe(false);
    expect(await workerStatus()).toMatchObject({ running: false, ready: false });

    writeFileSync(workerFile('worker.pid'), `${process.pid}\n`);
    expect((await stopBackgroundWorker()).stopped).toBe(false);
    expect(isAlive(process.pid)).toBe(true);
  });

  it('fails with one line naming worker.log when the worker dies at startup', async () => {
    process.env.FAKE_WORKER_MODE = 'crash';
    try {
      const err = await ensureBackgroundWorker({ ...target, mainScript }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/exited during startup \(exit code 3\); see .*worker\.log$/);
      expect((err as Error).message).not.toContain('\n');
      expect(await workerStatus()).toMatchObject({ running: false });
    } finally {
      delete process.env.FAKE_WORKER_MODE;
    }
  });

  it('gives up on a worker that never becomes ready, and kills it', async () => {
    process.env.FAKE_WORKER_MODE = 'never-ready';
    try {
      await expect(ensureBackgroundWorker({ ...target, mainScript, readyTimeoutMs: 1500 })).rejects.toThrow(
        /was not polling within 2 s; see .*worker\.log$/,
      );
      expect(await workerStatus()).toMatchObject({ running: false });
    } finally {
      delete process.env.FAKE_WORKER_MODE;
    }
  });

  it('says how to fix a missing entry point', async () => {
    await expect(ensureBackgroundWorker({ ...target, mainScript: join(root, 'nope', 'main.js') })).rejects.toThrow(
      /entry point .* is missing; run `npm run build`/,
    );
  });
});
