/**
 * A run's life after `durabox run` lets go of it, through the built CLI and a real worker process:
 * `attach` and `logs` after the CLI was killed, the sync fingerprint skip on a rerun, a per-run
 * `--timeout`, and Ctrl-C (SIGINT) killing the remote process group before the lease releases.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
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

/** Alive and not a zombie (an unreaped child of a container's init still answers kill -0). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const runsDir = () => join(h.stateDir, 'runs');
const listRuns = () => (existsSync(runsDir()) ? readdirSync(runsDir()) : []);

/** The run id that appears in the worker's run dir after `before` was taken. */
async function newRun(before: string[]): Promise<{ runId: string; leaseId: string }> {
  for (let i = 0; i < 600; i++) {
    const fresh = listRuns().filter((r) => !before.includes(r));
    const leaseFile = fresh[0] && join(runsDir(), fresh[0], 'lease');
    if (leaseFile && existsSync(leaseFile)) return { runId: fresh[0]!, leaseId: readFileSync(leaseFile, 'utf8').trim() };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no new run appeared');
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('durabox attach / logs (built CLI)', () => {
  it('follows a run after the CLI was killed, prints full logs later, and skips an unchanged sync', async () => {
    const repo = makeRepo();
    const before = listRuns();
    const first = h.start(['run', '--keep', '--', 'sh', '-c', 'echo first-out; echo first-err >&2; sleep 4; echo second-out; exit 5'], { cwd: repo });
    await first.waitFor(/first-out/);
    first.child.kill('SIGKILL');
    const { runId, leaseId } = await newRun(before);

    // attach: from the start of the run, to its end, with its exit code.
    const att = await h.run(['attach', leaseId]);
    expect(att.code, att.stderr).toBe(5);
    expect(count(att.stdout, 'first-out\n')).toBe(1);
    expect(count(att.stdout, 'second-out\n')).toBe(1);
    expect(att.stderr).toContain('first-err');
    expect(att.stderr).toContain(`attached to ${runId}`);

    // logs: the whole output, streams kept apart; --follow on an ended run returns at once.
    const logs = await h.run(['logs', runId]);
    expect(logs).toEqual({ code: 0, stdout: 'first-out\nsecond-out\n', stderr: 'first-err\n' });
    const followed = await h.run(['--quiet', 'logs', runId, '--follow']);
    expect(followed).toEqual({ code: 0, stdout: 'first-out\nsecond-out\n', stderr: 'first-err\n' });

    // attach to a finished lease's last run also works (same lease, run ended).
    const again = await h.run(['--quiet', 'attach', leaseId]);
    expect(again).toMatchObject({ code: 5, stdout: 'first-out\nsecond-out\n' });

    // logs --follow while a run is going (its CLI killed): everything, then return when it ends.
    const before2 = listRuns();
    const second = h.start(['run', '--id', leaseId, '--', 'sh', '-c', 'echo again; sleep 3; echo done-again'], { cwd: repo });
    await second.waitFor(/again/);
    second.child.kill('SIGKILL');
    const run2 = await newRun(before2);
    const t0 = Date.now();
    const live = await h.run(['--quiet', 'logs', run2.runId, '-f']);
    expect(live).toEqual({ code: 0, stdout: 'again\ndone-again\n', stderr: '' });
    expect(Date.now() - t0).toBeGreaterThan(500); // it waited for the run, not just the files

    // A rerun with nothing changed locally skips rsync, and says so; a change syncs again.
    const skip = await h.run(['run', '--id', leaseId, '--', 'cat', 'hello.txt'], { cwd: repo });
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.stderr).toContain('sync skipped (nothing changed)');
    expect(skip.stdout).toBe('hello from the repo\n');
    writeFileSync(join(repo, 'hello.txt'), 'changed locally\n');
    const changed = await h.run(['--json', 'run', '--id', leaseId, '--', 'cat', 'hello.txt'], { cwd: repo });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).not.toContain('sync skipped');
    expect(changed.stdout).toContain('changed locally');
    expect(JSON.parse(changed.stdout.slice(changed.stdout.indexOf('{\n'))).sync.skipped).toBe(false);

    const status = JSON.parse((await h.run(['--json', 'status', leaseId])).stdout);
    expect(status.runs.map((r: { sync?: { skipped: boolean } }) => r.sync?.skipped)).toEqual([false, true, true, false]);

    // Output that is not on this machine: one clear line.
    const missing = await h.run(['logs', 'run_000000000000']);
    expect(missing.code).toBe(3);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/lives on the worker that ran it/);

    expect((await h.run(['stop', leaseId])).code).toBe(0);
  });
});

describe('timeout and cancel (built CLI)', () => {
  /** A command that leaves a second process in its group and records both pids. */
  const twoProcesses = (dir: string) => ['sh', '-c', `sleep 300 & echo $! > ${dir}/bg; echo $$ > ${dir}/fg; echo started; wait`];
  const pids = (dir: string) => ['fg', 'bg'].map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()));

  it('--timeout 2s kills the remote process group, exits 124 and records the run as timed out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-timeout-'));
    const t0 = Date.now();
    const res = await h.run(['--json', 'run', '--timeout', '2s', '--', ...twoProcesses(dir)], { cwd: makeRepo() });
    expect(res.code, res.stderr).toBe(124);
    console.log(`--timeout 2s on a new lease: ${Date.now() - t0} ms`); // the command alone would take 300 s
    const json = JSON.parse(res.stdout.slice(res.stdout.indexOf('{\n')));
    expect(json).toMatchObject({ status: 'timed-out', exitCode: 124, exitCodeFrom: 'command' });
    for (const pid of pids(dir)) expect(alive(pid), `pid ${pid}`).toBe(false);

    const status = JSON.parse((await h.run(['--json', 'status', json.leaseId])).stdout);
    expect(status.runs[0]).toMatchObject({ status: 'timed-out', exitCode: 124 });
    expect(status.phase).toBe('released');
  });

  it('SIGINT kills the remote process group, records the run as cancelled, releases the box, exits 130', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-cancel-'));
    const before = listRuns();
    const t0 = Date.now();
    const cli = h.start(['run', '--', ...twoProcesses(dir)], { cwd: makeRepo() });
    await cli.waitFor(/started/);
    console.log(`new lease → command started: ${Date.now() - t0} ms`);
    const { leaseId } = await newRun(before);
    const [fg, bg] = pids(dir);
    expect(alive(fg!) && alive(bg!)).toBe(true);
    expect(existsSync(join(h.stateDir, 'boxes', leaseId))).toBe(true);

    const t1 = Date.now();
    cli.child.kill('SIGINT');
    const res = await cli.done;
    console.log(`SIGINT → CLI exit: ${Date.now() - t1} ms`);
    expect(res.code, res.stderr).toBe(130);
    expect(res.stderr).toContain('stopping the remote command');
    for (const pid of [fg!, bg!]) expect(alive(pid), `pid ${pid}`).toBe(false);

    const status = JSON.parse((await h.run(['--json', 'status', leaseId])).stdout);
    expect(status.runs[0].status).toBe('cancelled');
    expect(status.phase).toBe('released');
    expect(status.released).toMatchObject({ action: 'delete', reason: 'after-run' });
    // The local provider's default release deletes the box directory.
    expect(existsSync(join(h.stateDir, 'boxes', leaseId))).toBe(false);
  });
});
