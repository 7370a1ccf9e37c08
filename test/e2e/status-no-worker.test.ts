/**
 * `durabox status` of a running lease whose worker is gone: the query has no one to answer it. The
 * command must not wait for the server's deadline (twice, HTTP then gRPC) and end in a bare
 * "Failed to query Workflow": it shows what the server records of the lease, says which task
 * queue has no worker, and exits 9. `attach`, `run --id` and `stop` say they are waiting for a
 * worker, and the run or the release goes ahead once one polls the queue again.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CliHarness, makeRepo, type CliResult } from '../support/cli-harness.js';

let h: CliHarness;
let leaseId: string;
let firstRunId: string;
let released = false;
/** The worker started again in the second test. */
let revived: ChildProcess | undefined;
beforeAll(async () => {
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'));
  const worker = await h.startWorker();
  const first = await h.run(['--json', 'run', '--keep', '--slug', 'orphaned-status', '--', 'true'], { cwd: makeRepo() });
  expect(first.code, first.stderr).toBe(0);
  ({ leaseId, runId: firstRunId } = JSON.parse(first.stdout.slice(first.stdout.indexOf('{\n'))));
  worker.kill('SIGKILL');
  await new Promise((r) => worker.once('exit', r));
}, 240_000);
afterAll(async () => {
  if (leaseId && !released) {
    await h.startWorker();
    await h.run(['stop', leaseId, '--delete']);
  }
  await h?.stop();
  h?.cleanup();
}, 240_000);

describe('durabox status with no worker to answer', () => {
  const json = (r: CliResult) => JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const q = () => `task queue "${h.taskQueue}"`.replace(/[-"]/g, '\\$&');
  const noWorker = () => new RegExp(`no durabox worker polls ${q()} \\(lease-${leaseId}\\)|no worker answered for lease-${leaseId} within 15 s, though ${q()} was polled \\d+ s ago`);
  // Over the HTTP API the queue's pollers are not asked.
  const noAnswer = () => new RegExp(`${noWorker().source}|no worker answered for lease-${leaseId} within 15 s: is a durabox worker polling ${q()}\\?`);

  it('over HTTP and over gRPC: the server\'s record of the lease, the queue nobody answers on, exit 9', async () => {
    // attach keeps waiting (the lease lives), and says once why nothing comes; so does a new lease
    // on a queue nobody has ever polled.
    const attach = h.start(['attach', leaseId]);
    const nobody = `${h.taskQueue}-nobody`;
    // Another machine (nothing of the run on its disk) finds the run's lease without its worker.
    const elsewhere = mkdtempSync(join(tmpdir(), 'durabox-elsewhere-'));
    const fresh = h.start(['run', '--', 'true'], { cwd: makeRepo(), env: { DURABOX_TASK_QUEUE: nobody } });
    const [overHttp, overGrpc, human, logs] = await Promise.all([
      h.run(['--json', 'status', leaseId]),
      h.run(['--json', 'status', leaseId], { env: { DURABOX_TEMPORAL_HTTP: undefined } }),
      h.run(['status', 'orphaned-status']),
      h.run(['logs', firstRunId], { env: { DURABOX_STATE_DIR: elsewhere } }).finally(() => rmSync(elsewhere, { recursive: true, force: true })),
      attach.waitFor(new RegExp(`waiting for a worker: (${noWorker().source})`), 'stderr', 90_000),
      fresh.waitFor(new RegExp(`waiting for a worker \\(the lease goes on when one answers\\): no durabox worker polls task queue "${nobody}"`.replace(/-/g, '\\-')), 'stderr', 90_000),
    ]);
    attach.child.kill('SIGKILL');
    fresh.child.kill('SIGKILL');
    // That lease never had a worker, so it has no box: end its workflow so nothing lingers.
    const freshId = /lease \S+ \((dbx_[0-9a-f]+)\)/.exec(fresh.text().stderr)?.[1];
    expect(freshId, fresh.text().stderr).toBeDefined();
    await (await h.connect()).workflow.getHandle(`lease-${freshId}`).terminate('test: no worker ever polled its queue');
    // logs found the run's lease through the server, then said why it cannot copy the output now.
    expect(logs.code, logs.stderr).toBe(9);
    expect(logs.stderr).toMatch(noWorker());
    expect(logs.stderr).toContain('(durabox status shows what the server records)');
    for (const r of [overHttp, overGrpc, human]) {
      expect(r.code, r.stderr).toBe(9);
      // Depending on how long ago the killed worker last polled: nobody polls, or nobody answered.
      expect(r.stderr).toMatch(noWorker());
      expect(r.stderr).not.toMatch(/Failed to query Workflow|durabox status shows/);
    }
    for (const r of [overHttp, overGrpc]) {
      expect(json(r)).toMatchObject({ leaseId, slug: 'orphaned-status', provider: 'local', state: 'ready', workflowStatus: 'RUNNING', taskQueue: h.taskQueue, answered: false });
    }
    expect(human.stdout).toMatch(new RegExp(`^orphaned-status  ${leaseId}  local  ready \\(last published; its worker did not answer\\)`));
    expect(human.stdout).toContain(`queue:    ${h.taskQueue}`);
  }, 120_000);

  it('run --id says it waits for a worker, and runs once one polls the queue again', async () => {
    const run = h.start(['run', '--id', leaseId, '--no-sync', '--', 'sh', '-c', 'echo ran-after-wait']);
    await run.waitFor(new RegExp(`waiting for a worker \\(the lease goes on when one answers\\): (${noAnswer().source})`), 'stderr', 90_000);
    revived = await h.startWorker();
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ran-after-wait');
    const status = await h.run(['--json', 'status', leaseId]);
    expect(status.code, status.stderr).toBe(0);
    expect(json(status)).toMatchObject({ leaseId, phase: 'ready' });
  }, 180_000);

  it('stop with no worker says the release waits for one, and ends once one polls again', async () => {
    revived!.kill('SIGKILL');
    await new Promise((r) => revived!.once('exit', r));
    const stop = h.start(['stop', leaseId, '--delete']);
    await stop.waitFor(new RegExp(`waiting for a worker to release it \\(--no-wait returns now\\): no durabox worker polls ${q()}`), 'stderr', 120_000);
    await h.startWorker();
    const r = await stop.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/orphaned-status released: delete/);
    released = true;
  }, 240_000);
});
