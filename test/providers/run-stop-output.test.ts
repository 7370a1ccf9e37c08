/**
 * A run stopped by its timeout (or a cancel) keeps what the command printed while it was being
 * stopped: the streams' sessions are cut at the abort, so the run activity copies the rest once
 * after the kill. Real box (local provider's sshd), real runCommand activity.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, readyBox, releaseAll, useTempStateDir } from './helpers.js';
import { runCommand } from '../../activities/run.js';
import type { SshTarget } from '../../providers/adapter.js';
import { getProvider } from '../../providers/adapters.js';
import { runDir } from '../../providers/common/state-dir.js';

const stateDir = useTempStateDir();
const local = getProvider('local', {});
const leaseId = newLeaseId();
let target: SshTarget;

beforeAll(async () => {
  ({ target } = await readyBox(local, 'stop-output', { leaseId, pin: true }));
});

afterAll(() => releaseAll(local, stateDir));

describe('output of a stopped run', () => {
  it('keeps the lines a command prints on SIGTERM after its timeout', async () => {
    const script = 'trap "echo caught-term; echo term-on-stderr >&2; exit 143" TERM; echo started; while true; do sleep 0.1; done';
    const res = await new MockActivityEnvironment().run(runCommand, {
      leaseId,
      runId: 'run_stopped',
      target,
      workdir: `${target.workRoot}/${leaseId}/repo`,
      argv: ['sh', '-c', script],
      timeoutMs: 2000,
    });
    expect(res.status).toBe('timed-out');
    expect(readFileSync(join(runDir('run_stopped'), 'stdout'), 'utf8')).toBe('started\ncaught-term\n');
    expect(readFileSync(join(runDir('run_stopped'), 'stderr'), 'utf8')).toContain('term-on-stderr\n');
    expect(res.tail).toContain('caught-term');
    expect(res.stdoutBytes).toBe(Buffer.byteLength('started\ncaught-term\n'));
  });
});
