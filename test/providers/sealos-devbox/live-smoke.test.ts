/**
 * Live smoke against a real Sealos cluster. Skipped unless DURABOX_LIVE=1; never run by CI.
 *
 *   DURABOX_LIVE=1 DURABOX_SEALOS_IMAGE=<image> [DURABOX_SEALOS_CONTEXT=<ctx>] [DURABOX_SEALOS_NAMESPACE=<ns>] \
 *   DURABOX_SEALOS_NETWORK=NodePort DURABOX_SEALOS_NODE_HOST=<node>            # or
 *   DURABOX_SEALOS_NETWORK=SSHGate DURABOX_SEALOS_GATEWAY_HOST=<host> DURABOX_SEALOS_GATEWAY_PORT=<port> \
 *     DURABOX_SEALOS_GATEWAY_HOST_KEY="ssh-ed25519 AAAA…" \
 *   npx vitest run test/providers/sealos-devbox/live-smoke.test.ts
 *
 * Credentials come from your kubeconfig (KUBECONFIG or ~/.kube/config). It creates one DevBox,
 * waits for it, runs `uname -a`, pauses it, resumes it and deletes it, printing only public facts.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { getProvider } from '../../../providers/adapters.js';

const live = process.env.DURABOX_LIVE === '1';
const env = (n: string) => process.env[`DURABOX_SEALOS_${n}`] || undefined;

describe.skipIf(!live)('sealos-devbox live smoke (DURABOX_LIVE=1)', () => {
  it('create → ready → run → pause → resume → delete', async () => {
    const stateDir = useTempStateDir();
    const adapter = getProvider('sealos-devbox', {
      image: env('IMAGE'),
      context: env('CONTEXT'),
      namespace: env('NAMESPACE'),
      network: env('NETWORK') ?? 'SSHGate',
      nodeHost: env('NODE_HOST'),
      gatewayHost: env('GATEWAY_HOST'),
      gatewayPort: env('GATEWAY_PORT') ? Number(env('GATEWAY_PORT')) : undefined,
      gatewayHostKey: env('GATEWAY_HOST_KEY'),
    });
    const leaseId = newLeaseId();
    const key = await ensureLeaseKey(leaseId);
    const box = await adapter.create({ leaseId, slug: 'live-smoke', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
    console.log(`created Devbox ${box.resourceId} (uid ${box.details.uid}) in ${box.scope}`);
    try {
      const target = await adapter.waitReady(box, testCtx());
      console.log(`ready at ${target.user}@${target.host}:${target.port}, host key ${target.hostKeys[0]?.slice(0, 40)}…`);
      expect((await sshExec(target, 'uname -a')).code).toBe(0);
      expect((await adapter.release(box, 'stop', testCtx())).action).toBe('stop');
      const back = await adapter.resume(box, testCtx());
      expect(back.hostKeys).toEqual(target.hostKeys);
    } finally {
      console.log(JSON.stringify(await adapter.release(box, 'delete', testCtx())));
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 30 * 60_000);
});
