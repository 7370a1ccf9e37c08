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

describe('resuming a stopped lease', () => {
  it('run --id on a lease released with stop starts the same box again and runs there', async () => {
    const repo = makeRepo();
    const first = await h.run(['--json', 'run', '--release', 'stop', '--', 'sh', '-c', 'echo left-behind > ../marker.txt; echo one'], { cwd: repo });
    expect(first.code, first.stderr).toBe(0);
    const one = jsonOf(first.stdout);
    const client = await h.connect();
    const firstSummary = (await client.workflow.getHandle(one.workflowId).result()) as LeaseSummary;
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
