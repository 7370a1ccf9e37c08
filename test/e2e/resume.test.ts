/**
 * Resuming a lease whose box was stopped: `durabox run --id L` on a lease that ended with `stop`
 * starts a new execution of the same lease that starts the same box again (resumeBox, no create),
 * with the host key pinned before, and runs there; files the first run left are still on the box.
 * A lease whose box was deleted cannot resume and says so.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LeaseSummary } from '../../workflows/messages.js';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'));
  await h.startWorker();
});
afterAll(async () => {
  await h?.stop();
  h?.cleanup();
});

const jsonOf = (stdout: string) => JSON.parse(stdout.slice(stdout.indexOf('{\n')));

/** A plain run of `script` on a new lease released with `stop`, and the lease's summary. */
async function stoppedLease(script: string) {
  const repo = makeRepo();
  const first = await h.run(['--json', 'run', '--release', 'stop', '--', 'sh', '-c', script], { cwd: repo });
  expect(first.code, first.stderr).toBe(0);
  const one = jsonOf(first.stdout);
  const client = await h.connect();
  const firstSummary = (await client.workflow.getHandle(one.workflowId).result()) as LeaseSummary;
  return { repo, one, client, firstSummary };
}

describe('resuming a stopped lease', () => {
  it('run --id on a lease released with stop starts the same box again and runs there', async () => {
    const { repo, one, client, firstSummary } = await stoppedLease('echo left-behind > ../marker.txt; echo one');
    expect(firstSummary.released).toMatchObject({ action: 'stop' });
    // Stopped, not deleted: the box directory is still there.
    expect(existsSync(join(h.stateDir, 'boxes', one.leaseId))).toBe(true);

    const second = await h.run(['--json', 'run', '--id', one.leaseId, '--', 'sh', '-c', 'cat ../marker.txt; echo two'], { cwd: repo });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming lease ${one.leaseId}`);
    expect(second.stdout).toContain('left-behind');
    expect(second.stdout).toContain('two');

    const handle = client.workflow.getHandle(one.workflowId);
    const summary = (await handle.result()) as LeaseSummary;
    expect(summary.runs.map((r) => r.exitCode)).toEqual([0, 0]);
    expect(summary.box?.resourceId).toBe(firstSummary.box?.resourceId);
    expect(summary.target?.hostKeys).toEqual(firstSummary.target?.hostKeys);
    expect(summary.released).toMatchObject({ action: 'stop', reason: 'after-run' });
    const history = await handle.fetchHistory();
    const types = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
    expect(types).toContain('resumeBox');
    expect(types).not.toContain('createBox');
    expect(types).not.toContain('waitBoxReady');
  });

  it('warmup --id starts a stopped box again as a kept lease; ssh says how before', async () => {
    const { repo, one, client, firstSummary } = await stoppedLease('echo kept-file > ../kept.txt');

    const ssh = await h.run(['ssh', one.leaseId]);
    expect(ssh.code).toBe(3);
    expect(ssh.stderr.trim()).toMatch(new RegExp(`box stopped: durabox warmup --id ${one.leaseId} starts it again`));

    const warm = await h.run(['--json', 'warmup', '--id', one.leaseId], { cwd: repo });
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stderr).toContain(`resuming lease`);
    expect(jsonOf(warm.stdout)).toMatchObject({ leaseId: one.leaseId, phase: 'ready' });
    const handle = client.workflow.getHandle(one.workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // Kept: a run on it leaves it running, with the same box and pinned host key.
    const run = await h.run(['run', '--id', one.leaseId, '--', 'cat', '../kept.txt'], { cwd: repo });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('kept-file');
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // A second warmup of the running lease just reports it ready.
    const again = await h.run(['warmup', '--id', one.leaseId], { cwd: repo });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('is running');
    expect((await h.run(['ssh', one.leaseId])).code).toBe(0);

    expect((await h.run(['stop', one.leaseId])).code).toBe(0);
    const summary = (await handle.result()) as LeaseSummary;
    expect(summary.box?.resourceId).toBe(firstSummary.box?.resourceId);
    expect(summary.target?.hostKeys).toEqual(firstSummary.target?.hostKeys);
    expect(summary.released).toMatchObject({ action: 'stop' });
  });

  it('a lease whose box was deleted cannot resume: one line, exit 3, nothing started', async () => {
    const repo = makeRepo();
    const first = await h.run(['--json', 'run', '--', 'true'], { cwd: repo });
    expect(first.code, first.stderr).toBe(0);
    const one = jsonOf(first.stdout);
    const again = await h.run(['run', '--id', one.leaseId, '--', 'true'], { cwd: repo });
    expect(again.code).toBe(3);
    expect(again.stderr.trim().split('\n').at(-1)).toMatch(/its box was deleted; start a new lease/);
    const client = await h.connect();
    const desc = await client.workflow.getHandle(one.workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
  });
});
