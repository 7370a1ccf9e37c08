/**
 * `durabox history` through the built CLI, after the lease has finished: the story comes from the
 * workflow history alone (activity summaries, timings, short result facts, the run update, the end).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LeaseStory } from '../../cli/history-story.js';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

let h: CliHarness;
beforeAll(async () => {
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'), { DURABOX_CLEANUP_SCHEDULE: 'off' });
  await h.startWorker();
});
afterAll(async () => {
  await h?.stop();
  h?.cleanup();
});

describe('durabox history', () => {
  it("prints a finished lease's story: summaries, facts, the run update and the outcome", async () => {
    const repo = makeRepo({ 'b.txt': 'two\n' });
    const run = await h.run(['--json', 'run', '--provider', 'local', '--', 'sh', '-c', 'echo hi; exit 3'], { cwd: repo });
    expect(run.code, run.stderr).toBe(3);
    // The command's own output comes first on stdout, then durabox's JSON result.
    const { leaseId } = JSON.parse(run.stdout.slice(run.stdout.indexOf('{\n'))) as { leaseId: string };

    const text = await h.run(['history', leaseId]);
    expect(text.code, text.stderr).toBe(0);
    const out = text.stdout;
    expect(out).toMatch(new RegExp(`^lease-${leaseId}  completed`));
    expect(out).toMatch(/started: local lease .* release provider default after the run/);
    expect(out).toMatch(/update run `sh -c "echo hi; exit 3"`/);
    expect(out).toMatch(/claim a worker → worker queue e2e-/);
    expect(out).toMatch(new RegExp(`create local box for .* → box local-${leaseId}`));
    expect(out).toMatch(/accepts SSH → ssh \S+@127\.0\.0\.1:\d+/);
    expect(out).toMatch(/sync \/\S+ → 3 files, \d+ B/); // hello.txt, .gitignore, b.txt; never ignored.txt
    expect(out).toMatch(/run `sh -c "echo hi; exit 3"` → exit 3 in \d+(\.\d)? s/);
    expect(out).toMatch(/release \(delete\) after after-run → delete/);
    expect(out.trimEnd().split('\n').at(-1)).toMatch(/released: delete after after-run$/);

    const json = await h.run(['--json', 'history', leaseId]);
    const story = JSON.parse(json.stdout) as LeaseStory;
    expect(story.status).toBe('COMPLETED');
    const acts = story.steps.filter((s) => s.kind === 'activity');
    expect(acts.map((s) => s.name)).toEqual(['claimWorkerQueue', 'createBox', 'waitBoxReady', 'syncWorkdir', 'runCommand', 'releaseBox']);
    for (const a of acts) {
      expect(a.status).toBe('completed');
      expect(Date.parse(a.endedAt!)).toBeGreaterThanOrEqual(Date.parse(a.at));
    }
    expect(acts.find((a) => a.name === 'runCommand')).toMatchObject({ facts: expect.stringMatching(/^exit 3 in /) });
    expect(acts.find((a) => a.name === 'runCommand')!.taskQueue).toMatch(/@/); // the lease's own worker queue
    expect(story.steps.at(-1)).toMatchObject({ kind: 'end', name: 'completed' });

    const missing = await h.run(['history', 'dbx_000000000000']);
    expect(missing.code).toBe(3);
  });
});
