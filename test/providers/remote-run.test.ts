/**
 * Detached runs on a real box (local provider's sshd): start once, reattach by run id, and copy the
 * output into the worker's local log so that overlapping attempts (a timed-out attempt still
 * following while its retry reattaches from a stale heartbeat offset) never duplicate a byte.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, readyBox, releaseAll, useTempStateDir } from './helpers.js';
import type { SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { followStderr, followStream, readExit, remoteRunDir, startAndFollow, startOrAttach } from '../../providers/common/remote-run.js';
import { getProvider } from '../../providers/adapters.js';

const stateDir = useTempStateDir();
const local = getProvider('local', {});
const leaseId = newLeaseId();
let target: SshTarget;

beforeAll(async () => {
  ({ target } = await readyBox(local, 'run-box', { leaseId, pin: true }));
});

afterAll(() => releaseAll(local, stateDir));

const expected = (n: number) => Array.from({ length: n }, (_, i) => `line-${i + 1}\n`).join('');

describe('detached remote run', () => {
  it('starts once, reattaches by run id, and overlapping followers leave an exact local copy', async () => {
    const lines = 30;
    const spec = {
      leaseId,
      runId: 'run_overlap',
      workdir: `${target.workRoot}/${leaseId}/repo`,
      argv: ['sh', '-c', `echo started >> counter; i=1; while [ $i -le ${lines} ]; do echo line-$i; sleep 0.05; i=$((i+1)); done`],
    };
    const first = await startOrAttach(target, spec);
    const again = await startOrAttach(target, spec);
    expect(first.attached).toBe(false);
    expect(again).toEqual({ pid: first.pid, attached: true });

    const dir = mkdtempSync(join(tmpdir(), 'dbx-follow-'));
    const local = join(dir, 'stdout');
    const remote = `${remoteRunDir(target, leaseId, spec.runId)}/stdout`;
    const never = new AbortController().signal;
    // A dead attempt copied a prefix and a bit more than its last heartbeat recorded (bytes that
    // were on the box: offsets never run ahead of the remote file, which only grows).
    const head = expected(lines).slice(0, 40);
    await expect.poll(async () => Number((await sshExec(target, `stat -c %s ${remote}`)).stdout.trim()), { timeout: 10_000 }).toBeGreaterThanOrEqual(40);
    writeFileSync(local, head);
    // The superseded attempt keeps following from 0 while the retry reattaches from offset 20.
    const counted = { a: 0, b: 0 };
    const [endA, endB] = await Promise.all([
      followStream(target, remote, first.pid, local, 0, (n) => (counted.a += n), never),
      followStream(target, remote, first.pid, local, 20, (n) => (counted.b += n), never),
    ]);
    const full = expected(lines);
    expect(readFileSync(local, 'utf8')).toBe(full);
    expect(endA).toBe(Buffer.byteLength(full));
    expect(endB).toBe(Buffer.byteLength(full));
    expect(counted.b).toBe(Buffer.byteLength(full) - 20);

    // A late reattach after the end copies nothing new and leaves the copy intact.
    expect(await followStream(target, remote, first.pid, local, Buffer.byteLength(full), () => undefined, never)).toBe(Buffer.byteLength(full));
    expect(readFileSync(local, 'utf8')).toBe(full);

    const exit = await readExit(target, leaseId, spec.runId);
    expect(exit).toMatchObject({ code: 0, alive: false });
    const counter = await sshExec(target, `cat ${spec.workdir}/counter`);
    expect(counter.stdout).toBe('started\n');
  });

  it('one session starts, streams stdout and reads the exit status; stderr alongside; a reattach copies on', async () => {
    const spec = {
      leaseId,
      runId: 'run_one_session',
      workdir: `${target.workRoot}/${leaseId}/repo`,
      argv: ['sh', '-c', 'echo once >> counter2; for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; sleep 0.1; done; exit 3'],
    };
    const dir = mkdtempSync(join(tmpdir(), 'dbx-one-'));
    const out = join(dir, 'stdout');
    const err = join(dir, 'stderr');
    const never = new AbortController().signal;
    const [r, errEnd] = await Promise.all([
      startAndFollow(target, spec, out, 0, () => undefined, never),
      followStderr(target, leaseId, spec.runId, err, 0, () => undefined, never),
    ]);
    const outText = [1, 2, 3, 4, 5].map((i) => `out-${i}\n`).join('');
    const errText = [1, 2, 3, 4, 5].map((i) => `err-${i}\n`).join('');
    expect(readFileSync(out, 'utf8')).toBe(outText);
    expect(readFileSync(err, 'utf8')).toBe(errText);
    expect(r).toMatchObject({ offset: outText.length, attached: false, exit: { code: 3 } });
    expect(r.pid).toBeGreaterThan(1);
    expect(errEnd).toBe(errText.length);

    // A retried attempt from a stale offset attaches (never starts again) and leaves the copy exact.
    const again = await startAndFollow(target, spec, out, 6, () => undefined, never);
    expect(again).toMatchObject({ attached: true, pid: r.pid, offset: outText.length, exit: { code: 3 } });
    expect(readFileSync(out, 'utf8')).toBe(outText);
    expect((await sshExec(target, `cat ${spec.workdir}/counter2`)).stdout).toBe('once\n');
  });

  it('the sync check waits on the box for a fingerprint still being computed; none means nothing starts', async () => {
    const workdir = `${target.workRoot}/${leaseId}/checked`;
    const fpFile = `${target.workRoot}/${leaseId}/checked.fingerprint`;
    await sshExec(target, `mkdir -p ${workdir} && echo fp-1 > ${fpFile}`);
    const dir = mkdtempSync(join(tmpdir(), 'dbx-check-'));
    const never = new AbortController().signal;
    const spec = (runId: string, fingerprint: Promise<string>) => ({
      leaseId, runId, workdir, argv: ['sh', '-c', `echo ${runId} >> ran`], syncCheck: { fingerprint, fingerprintFile: fpFile },
    });
    const later = (v: string) => new Promise<string>((resolve) => setTimeout(() => resolve(v), 300));
    // The session is up before the fingerprint is known; the box starts the run once it matches.
    const matched = await startAndFollow(target, spec('run_fp_late', later('fp-1')), join(dir, 'a'), 0, () => undefined, never);
    expect(matched).toMatchObject({ attached: false, exit: { code: 0 } });
    // A late fingerprint that differs: stale, nothing started.
    await expect(startAndFollow(target, spec('run_fp_stale', later('fp-2')), join(dir, 'b'), 0, () => undefined, never)).rejects.toThrow(/differs from the local one/);
    // No fingerprint at all (the worker gave up computing it): the box starts nothing.
    const gaveUp = Promise.reject(new Error('aborted'));
    await expect(startAndFollow(target, spec('run_fp_none', gaveUp), join(dir, 'c'), 0, () => undefined, never)).rejects.toThrow(/could not start run run_fp_none \(exit 93\)/);
    const runs = (await sshExec(target, `ls ${remoteRunDir(target, leaseId, 'x').replace(/\/x$/, '')}`)).stdout.split('\n');
    expect(runs).toContain('run_fp_late');
    expect(runs).not.toContain('run_fp_stale');
    expect(runs).not.toContain('run_fp_none');
    expect((await sshExec(target, `cat ${workdir}/ran`)).stdout).toBe('run_fp_late\n');
  });
});
