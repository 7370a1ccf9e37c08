/**
 * The behaviour every ProviderAdapter must show, as a vitest suite a provider's test file calls with
 * a factory. Assumes DURABOX_STATE_DIR already points at a private directory and that the adapter's
 * boxes are reachable over SSH from here.
 */
import { describe, expect, it } from 'vitest';
import type { BoxIdentity, ProviderAdapter } from '../../providers/adapter.js';
import { isProviderError } from '../../providers/errors.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { sshExec } from '../../providers/common/remote.js';
import { newLeaseId, testCtx } from '../providers/helpers.js';

async function create(adapter: ProviderAdapter, leaseId = newLeaseId()): Promise<BoxIdentity> {
  const key = await ensureLeaseKey(leaseId);
  return adapter.create({ leaseId, slug: 'conf-box', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
}

export function describeAdapterConformance(name: string, makeAdapter: () => ProviderAdapter): void {
  describe(`adapter conformance: ${name}`, () => {
    it('create → findByLease → waitReady → ssh → (stop → resume) → delete → gone', async () => {
      const adapter = makeAdapter();
      const box = await create(adapter);
      const lease = { leaseId: box.leaseId, slug: 'conf-box' };
      expect(box.leaseId).toBe(lease.leaseId);
      const found = await adapter.findByLease(lease);
      expect(found).toHaveLength(1);
      expect(found[0]!.resourceId).toBe(box.resourceId);

      const ctx = testCtx();
      const target = await adapter.waitReady(box, ctx);
      expect(target.hostKeys.length).toBeGreaterThan(0);
      expect(ctx.beats.length).toBeGreaterThan(0);
      expect((await sshExec(target, 'true')).code).toBe(0);

      if (adapter.capabilities.stop) {
        const stopped = await adapter.release(box, 'stop', testCtx());
        expect(stopped.action).toBe('stop');
        const resumed = await adapter.resume(box, testCtx());
        expect(resumed.hostKeys).toEqual(target.hostKeys);
        expect((await sshExec(resumed, 'echo back')).stdout.trim()).toBe('back');
      }
      const del = await adapter.release(box, 'delete', testCtx());
      expect(['delete', 'keep']).toContain(del.action);
      if (adapter.capabilities.delete) expect(del.action).toBe('delete');
      expect(await adapter.findByLease(lease)).toEqual([]);
      // Releasing again is fine: verified absent counts as released.
      const again = await adapter.release(box, 'delete', testCtx());
      if (adapter.capabilities.delete) expect(again.alreadyGone).toBe(true);
    });

    it('create twice for one lease (a retried activity) leaves one resource', async () => {
      const adapter = makeAdapter();
      const leaseId = newLeaseId();
      const a = await create(adapter, leaseId);
      const b = await create(adapter, leaseId);
      expect(b.resourceId).toBe(a.resourceId);
      expect(b.details).toEqual(a.details);
      expect(await adapter.findByLease({ leaseId, slug: 'conf-box' })).toHaveLength(1);
      if (adapter.capabilities.discover) {
        expect((await adapter.listOwned()).filter((r) => r.leaseId === leaseId)).toHaveLength(1);
      }
      await adapter.release(a, 'delete', testCtx());
    });

    it('rollback with stop leaves the resource resumable and never deletes it', async () => {
      const adapter = makeAdapter();
      const box = await create(adapter);
      await adapter.waitReady(box, testCtx());
      const res = await adapter.release(box, 'stop', testCtx());
      expect(res.action).not.toBe('delete');
      if (adapter.capabilities.stop) expect(res.action).toBe('stop');
      expect(res.alreadyGone).toBe(false);
      if (adapter.capabilities.stop) {
        expect(await adapter.findByLease({ leaseId: box.leaseId, slug: 'conf-box' })).toHaveLength(1);
        const t = await adapter.resume(box, testCtx());
        expect((await sshExec(t, 'true')).code).toBe(0);
      }
      await adapter.release(box, 'delete', testCtx());
    });

    it("release of one lease's box leaves another lease's box untouched", async () => {
      const adapter = makeAdapter();
      const mine = await create(adapter);
      const theirs = await create(adapter);
      const theirTarget = await adapter.waitReady(theirs, testCtx());
      await adapter.release(mine, 'delete', testCtx());
      expect(await adapter.findByLease({ leaseId: theirs.leaseId, slug: 'conf-box' })).toHaveLength(1);
      expect((await sshExec(theirTarget, 'true')).code).toBe(0);
      // An identity naming their resource under my lease id is refused, and changes nothing.
      const forged: BoxIdentity = { ...theirs, leaseId: mine.leaseId };
      const err = await adapter.release(forged, 'delete', testCtx()).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (err !== undefined) expect(isProviderError(err) && ['ownership', 'gone'].includes(err.kind)).toBe(true);
      expect(await adapter.findByLease({ leaseId: theirs.leaseId, slug: 'conf-box' })).toHaveLength(1);
      await adapter.release(theirs, 'delete', testCtx());
    });
  });
}
