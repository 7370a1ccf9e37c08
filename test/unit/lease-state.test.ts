/** LeaseState transitions and deadlines, without a server. */
import { describe, expect, it } from 'vitest';
import { LeaseState } from '../../workflows/lease-state.js';
import type { LeaseInput } from '../../workflows/messages.js';

const input = (over: Partial<LeaseInput> = {}): LeaseInput => ({
  leaseId: 'dbx_000000000001', slug: 'calm-otter', provider: 'local', providerConfig: {},
  releaseAfterRun: false, idleTimeoutMs: 1000, ttlMs: 10_000, repoName: 'r', owner: 'o', ...over,
});
const box = { provider: 'local', leaseId: 'dbx_000000000001', resourceId: 'b', scope: 's', details: {} };

describe('LeaseState', () => {
  it('takes the provider default only when no action was configured', () => {
    const a = new LeaseState(input(), 0);
    a.created(box, 'delete');
    expect(a.releaseAction).toBe('delete');
    const b = new LeaseState(input({ releaseAction: 'stop' }), 0);
    b.created(box, 'delete');
    expect(b.releaseAction).toBe('stop');
  });

  it('is due for idle, then ttl; never idle while a run is busy', () => {
    const s = new LeaseState(input(), 0);
    expect(s.due(500, false)).toBeUndefined();
    expect(s.due(1000, false)).toBe('idle');
    s.touch(900);
    expect(s.due(1500, false)).toBeUndefined();
    const rec = s.beginRun('run_1', ['true'], 1500);
    expect(s.due(5000, false)).toBeUndefined();
    expect(s.nextWake()).toBe(10_000);
    expect(s.due(10_000, false)).toBe('ttl');
    s.endRun(rec, { status: 'succeeded', exitCode: 0 }, 6000);
    expect(s.idleDeadline).toBe(7000);
    expect(s.phase).not.toBe('running');
  });

  it('suggests continue-as-new only when idle-free and not busy, and carries its state', () => {
    const s = new LeaseState(input(), 0);
    s.created(box, 'stop');
    s.ready({ user: 'u', host: 'h', port: 22, keyPath: '/k', hostKeyAlias: 'durabox-dbx_000000000001', hostKeys: ['ssh-ed25519 AAAA'], workRoot: '/w' }, 100);
    s.beginRun('run_1', ['true'], 200);
    expect(s.due(300, true)).toBeUndefined();
    s.endRun(s.runs[0], { status: 'succeeded', exitCode: 0 }, 300);
    expect(s.due(400, true)).toBe('continue-as-new');
    const next = new LeaseState({ ...input(), carried: s.carry() }, 99_999);
    expect(next.phase).toBe('ready');
    expect(next.box).toEqual(box);
    expect(next.releaseAction).toBe('stop');
    expect(next.createdAt).toBe(0);
    expect(next.runs.map((r) => r.runId)).toEqual(['run_1']);
  });

  it('a repeated run id returns the same record; the first release request wins', () => {
    const s = new LeaseState(input(), 0);
    const a = s.beginRun('run_x', ['a'], 1);
    expect(s.beginRun('run_x', ['b'], 2)).toBe(a);
    s.requestRelease({ action: 'keep' }, 'requested');
    s.requestRelease({ action: 'delete' }, 'ttl');
    expect(s.releaseRequest).toMatchObject({ action: 'keep', reason: 'requested' });
  });
});
