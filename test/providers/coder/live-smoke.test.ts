/**
 * Live smoke test against a real Coder deployment. Skipped unless DURABOX_LIVE=1; never run by CI.
 *
 *   DURABOX_LIVE=1 CODER_URL=https://… CODER_SESSION_TOKEN=… DURABOX_CODER_TEMPLATE=docker \
 *     npx vitest run test/providers/coder/live-smoke.test.ts
 *
 * doctor → create → waitReady (real `coder ssh --stdio`) → ssh → stop → resume → delete. The
 * workspace is deleted in the end even when a step fails.
 */
import { describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import type { BoxIdentity } from '../../../providers/adapter.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { getProvider } from '../../../providers/adapters.js';

const live = process.env.DURABOX_LIVE === '1';

describe.skipIf(!live)('coder live smoke (DURABOX_LIVE=1)', () => {
  it('doctor → create → ready → ssh → stop → resume → delete', async () => {
    useTempStateDir();
    const coder = getProvider('coder', {
      template: process.env.DURABOX_CODER_TEMPLATE ?? 'docker',
      workspacePrefix: 'dbxsmoke',
      ...(process.env.DURABOX_CODER_WORKROOT ? { workRoot: process.env.DURABOX_CODER_WORKROOT } : {}),
    });
    const checks = await coder.doctor();
    for (const c of checks) console.log(`doctor ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const leaseId = newLeaseId();
    const key = await ensureLeaseKey(leaseId);
    let box: BoxIdentity | undefined;
    try {
      box = await coder.create({ leaseId, slug: 'smoke', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
      const target = await coder.waitReady(box, testCtx());
      expect((await sshExec(target, 'uname -s')).stdout.trim()).toBe('Linux');
      expect((await coder.release(box, 'stop', testCtx())).action).toBe('stop');
      const again = await coder.resume(box, testCtx());
      expect((await sshExec(again, 'echo back')).stdout.trim()).toBe('back');
    } finally {
      if (box) await coder.release(box, 'delete', testCtx());
    }
  }, 45 * 60_000);
});
