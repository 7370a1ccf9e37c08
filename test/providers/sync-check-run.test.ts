/**
 * A warm rerun checks the sync fingerprint in the run's own session (no separate sync login): the
 * run and sync activities against a real box (local provider's sshd) and real rsync. An unchanged
 * tree runs at once; a tree changed here, or a box synced by someone else since, starts nothing and
 * fails `SyncStale`; a retried attempt reattaches to its started command whatever the tree.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, readyBox, releaseAll, useTempStateDir } from './helpers.js';
import { runCommand, syncWorkdir } from '../../activities/run.js';
import type { RunCommandInput } from '../../activities/types.js';
import type { SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { remoteRunDir } from '../../providers/common/remote-run.js';
import { remoteLayout } from '../../providers/common/sync.js';
import { getProvider } from '../../providers/adapters.js';
import { makeRepo } from '../support/cli-harness.js';

const stateDir = useTempStateDir();
const local = getProvider('local', {});
const leaseId = newLeaseId();
let target: SshTarget;
let repo: string;

beforeAll(async () => {
  ({ target } = await readyBox(local, 'sync-check', { leaseId, pin: true }));
  repo = makeRepo({ 'src/a.txt': 'one\n' });
});

afterAll(() => releaseAll(local, stateDir));

const tree = () => ({ localRoot: repo, repoName: 'repo' });
const runInput = (runId: string, argv: string[], checked = true): RunCommandInput => ({
  leaseId,
  runId,
  target,
  workdir: `${target.workRoot}/${leaseId}/repo`,
  argv,
  syncCheck: checked ? tree() : undefined,
});
const sync = () => new MockActivityEnvironment().run(syncWorkdir, { leaseId, target, ...tree() });
const run = (input: RunCommandInput, attempt = 1) => new MockActivityEnvironment({ attempt }).run(runCommand, input);
const runDirExists = async (runId: string) => (await sshExec(target, `test -d ${remoteRunDir(target, leaseId, runId)}`)).code === 0;

/**
 * Sync, then start a run whose command does `before`, waits for a gate file, then does `after`;
 * resolves once the run exists on the box. `openGate` lets it finish (a moment later).
 */
async function startGatedRun(runId: string, before: string, after: string) {
  await sync();
  const marks = mkdtempSync(join(tmpdir(), 'dbx-sync-check-'));
  const go = join(marks, 'go');
  const input = runInput(runId, ['sh', '-c', `${before}; while [ ! -e ${go} ]; do sleep 0.1; done; ${after}`]);
  const first = run(input);
  await expect.poll(() => runDirExists(runId), { timeout: 20_000 }).toBe(true);
  return { input, first, marks, go, openGate: () => setTimeout(() => writeFileSync(go, ''), 1500) };
}

describe('sync check in the run session', () => {
  it('runs an unchanged tree at once and refuses a changed one before starting anything', async () => {
    expect((await sync()).skipped).toBe(false);

    const warm = await run(runInput('run_warm', ['cat', 'src/a.txt']));
    expect(warm).toMatchObject({ exitCode: 0, status: 'succeeded' });
    expect(warm.tail).toContain('one');
    expect(warm.sync).toMatchObject({ files: 3 });

    // Changed here: the box's fingerprint differs, so nothing starts.
    writeFileSync(join(repo, 'src/a.txt'), 'two\n');
    const err = await run(runInput('run_changed', ['sh', '-c', 'echo ran >> ran.txt'])).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'SyncStale', nonRetryable: true });
    expect(await runDirExists('run_changed')).toBe(false);

    // What the workflow does next: sync, then the same run id without the check.
    expect((await sync()).skipped).toBe(false);
    const after = await run(runInput('run_changed', ['sh', '-c', 'cat src/a.txt; echo ran >> ran.txt'], false));
    expect(after.tail).toContain('two');
    expect(after.sync).toBeUndefined();
    expect((await sshExec(target, `cat ${target.workRoot}/${leaseId}/repo/ran.txt`)).stdout).toBe('ran\n');
  });

  it('refuses when the box was synced by someone else since, though this worker shipped this tree last', async () => {
    await sync();
    // Another machine's sync (a client syncing itself) leaves its own fingerprint on the box.
    const { metaDir } = remoteLayout(target, leaseId, 'repo');
    expect((await sshExec(target, `echo someone-else > ${metaDir}/sync-fingerprint`)).code).toBe(0);
    const err = await run(runInput('run_other', ['true'])).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'SyncStale' });
    expect(await runDirExists('run_other')).toBe(false);
    // The sync step then finds the box stale too and ships the tree again.
    expect((await sync()).skipped).toBe(false);
    expect((await run(runInput('run_other', ['true']))).exitCode).toBe(0);
  });

  it('a retried attempt reattaches to the command it started, even after the local tree changed', async () => {
    const { input, first, go, openGate } = await startGatedRun('run_retry', 'echo started >> started.txt', 'echo done');
    writeFileSync(join(repo, 'src/a.txt'), 'three\n');
    // A second attempt while the command runs (the first one's worker died, say).
    const second = run(input, 2);
    openGate();
    const [a, b] = await Promise.all([first, second]);
    expect(a.exitCode).toBe(0);
    expect(b).toMatchObject({ exitCode: 0, reattached: true });
    expect(b.tail).toContain('done');
    expect((await sshExec(target, `cat ${target.workRoot}/${leaseId}/repo/started.txt`)).stdout).toBe('started\n');
    expect(existsSync(go)).toBe(true);
  });

  it('after a move to another worker (a first attempt there), a started run is attached whatever that worker sees', async () => {
    const { input, first, marks, openGate } = await startGatedRun('run_moved', 'echo once >> moved.txt', 'echo finished');
    // The new worker's tree differs (or it has none at all): both are first attempts of new activities.
    writeFileSync(join(repo, 'src/a.txt'), 'four\n');
    const changedTree = run(input, 1);
    const noTree = run({ ...input, syncCheck: { localRoot: join(marks, 'not-here'), repoName: 'repo' } }, 1);
    openGate();
    const [a, b, c] = await Promise.all([first, changedTree, noTree]);
    expect(a.exitCode).toBe(0);
    expect(b).toMatchObject({ exitCode: 0, reattached: true });
    expect(c).toMatchObject({ exitCode: 0, reattached: true });
    expect(c.tail).toContain('finished');
    expect((await sshExec(target, `cat ${target.workRoot}/${leaseId}/repo/moved.txt`)).stdout).toBe('once\n');
  });
});
