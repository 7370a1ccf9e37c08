/**
 * A lease with many runs continues as new when Temporal suggests it, keeping its box, its runs and
 * its deadlines, and still releases exactly once. Uses a private dev server whose suggestion
 * threshold is tiny, so a handful of runs is enough.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseStartOptions } from '../../cli/lease-client.js';
import { answers, ensureSearchAttributes, startDevArgs } from '../../cli/temporal/dev-server.js';
import { freePort, sleep } from '../../cli/temporal/proc.js';
import { findTemporalCli } from '../../cli/temporal/temporal-binary.js';
import { LEASE_WORKFLOW_TYPE, releaseSignal, runUpdate, statusQuery } from '../../workflows/messages.js';
import { fakeActivities, leaseInput, type Recorder } from '../support/fake-activities.js';
import { workflowBundle } from '../support/workflow-bundle.js';

let server: ChildProcess;
let dir: string;
let address: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'durabox-can-'));
  const port = await freePort();
  let httpPort = await freePort();
  while (httpPort === port) httpPort = await freePort();
  address = `127.0.0.1:${port}`;
  const args = [
    ...startDevArgs({ dbFile: join(dir, 'db.sqlite'), port, httpPort, headless: true }),
    '--dynamic-config-value',
    'limit.historyCount.suggestContinueAsNew=40',
  ];
  server = spawn(await findTemporalCli(), args, { stdio: 'ignore' });
  for (let i = 0; !(await answers(address, 'default', 1000)); i++) {
    if (i > 150) throw new Error('private dev server did not start');
    await sleep(200);
  }
  await ensureSearchAttributes(address, 'default');
});

afterAll(async () => {
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('continue-as-new', () => {
  it('carries the box and its runs into the next run and releases once', async () => {
    const rec: Recorder = { calls: [], releases: [] };
    const taskQueue = `can-${randomBytes(4).toString('hex')}`;
    const own = `${taskQueue}@w1`;
    const activities = fakeActivities(rec, own);
    const connection = await NativeConnection.connect({ address });
    const client = new Client({ connection: await Connection.connect({ address }) });
    const shared = await Worker.create({ connection, taskQueue, workflowBundle: await workflowBundle(), activities });
    const mine = await Worker.create({ connection, taskQueue: own, activities });
    try {
      await mine.runUntil(
        shared.runUntil(async () => {
          const input = leaseInput({ releaseAfterRun: false });
          const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(input, taskQueue));
          const firstRunId = (await handle.describe()).runId;
          for (let i = 0; i < 8; i++) {
            const r = await client.workflow.getHandle(handle.workflowId).executeUpdate(runUpdate, { args: [{ argv: ['echo', String(i)], noSync: true }] });
            expect(r.exitCode).toBe(0);
          }
          // Let the workflow act on the suggestion once no run is in flight.
          let latest = await client.workflow.getHandle(handle.workflowId).describe();
          for (let i = 0; i < 50 && latest.runId === firstRunId; i++) {
            await sleep(200);
            latest = await client.workflow.getHandle(handle.workflowId).describe();
          }
          expect(latest.runId).not.toBe(firstRunId);
          const status = await client.workflow.getHandle(handle.workflowId).query(statusQuery);
          expect(status.phase).toBe('ready');
          expect(status.box?.resourceId).toBe(`box-${input.leaseId}`);
          expect(status.runs.length).toBe(8);
          // Still one lease: a run after the hand-over works on the same box.
          const after = await client.workflow.getHandle(handle.workflowId).executeUpdate(runUpdate, { args: [{ argv: ['echo', 'after'], noSync: true }] });
          expect(after.exitCode).toBe(0);
          await client.workflow.getHandle(handle.workflowId).signal(releaseSignal, {});
          const summary = await client.workflow.getHandle(handle.workflowId).result();
          expect(summary.runs.length).toBe(9);
          expect(rec.calls.filter((c) => c === 'create')).toHaveLength(1);
          expect(rec.calls.filter((c) => c.startsWith('release'))).toHaveLength(1);
        }),
      );
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });
});
