/** The static `ssh` provider, pointed at a local box's sshd as "the existing host". */
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, releaseAll, testCtx, useTempStateDir } from './helpers.js';
import { describeAdapterConformance } from '../conformance/adapter-conformance.js';
import type { BoxIdentity, ProviderAdapter } from '../../providers/adapter.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { sshExec } from '../../providers/common/remote.js';
import { isProviderError } from '../../providers/errors.js';
import { getProvider } from '../../providers/adapters.js';
import { boxPaths } from '../../providers/local/box.js';
import { hostPublicKey, runningSshd } from '../../providers/local/sshd.js';

const stateDir = useTempStateDir();
const local = getProvider('local', {});
let hostBox: BoxIdentity;
let settings: Record<string, unknown>;

beforeAll(async () => {
  const leaseId = newLeaseId();
  const key = await ensureLeaseKey(leaseId);
  hostBox = await local.create({ leaseId, slug: 'the-host', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
  const t = await local.waitReady(hostBox, testCtx());
  settings = { host: '127.0.0.1', port: t.port, user: t.user, keyPath: key.keyPath, workRoot: t.workRoot, readyTimeoutMs: 120_000 };
});

afterAll(() => releaseAll(local, stateDir));

const staticAdapter = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('ssh', { ...settings, ...extra });

async function staticBox(adapter: ProviderAdapter): Promise<BoxIdentity> {
  const leaseId = newLeaseId();
  const key = await ensureLeaseKey(leaseId);
  return adapter.create({ leaseId, slug: 'static', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
}

describe('static ssh provider', () => {
  it('pins the host key on first use per lease and reaches the host', async () => {
    const adapter = staticAdapter();
    const box = await staticBox(adapter);
    expect(box.resourceId).toBe(`static_127.0.0.1_${settings.port}`);
    const t = await adapter.waitReady(box, testCtx());
    expect(t.hostKeys).toEqual([hostPublicKey(boxPaths(hostBox.leaseId))]);
    expect((await sshExec(t, 'echo hi')).stdout).toBe('hi\n');
    // A later reconnect (resume) in the same lease reuses the learned pin rather than trusting again.
    expect((await adapter.resume(box, testCtx())).hostKeys).toEqual(t.hostKeys);
  });

  it('release (any action) forgets the record and never touches the host', async () => {
    const adapter = staticAdapter();
    const box = await staticBox(adapter);
    const t = await adapter.waitReady(box, testCtx());
    const marker = `${t.workRoot}/${box.leaseId}/left-alone`;
    expect((await sshExec(t, `mkdir -p '${t.workRoot}/${box.leaseId}' && touch '${marker}'`)).code).toBe(0);
    const pid = runningSshd(boxPaths(hostBox.leaseId));
    const before = readdirSync(t.workRoot).sort();

    // Stop the "host" entirely: a release that tried to contact it would now fail.
    await local.release(hostBox, 'stop', testCtx());
    for (const action of ['delete', 'stop', 'keep'] as const) {
      const res = await adapter.release(box, action, testCtx());
      expect(res).toMatchObject({ action, alreadyGone: false });
      expect(res.note).toMatch(/never touched/);
    }
    expect(await adapter.findByLease({ leaseId: box.leaseId, slug: 'static' })).toEqual([]);
    expect(existsSync(marker)).toBe(true);
    expect(readdirSync(t.workRoot).sort()).toEqual(before);
    expect(pid).toBeGreaterThan(1);

    const t2 = await local.resume(hostBox, testCtx());
    settings.port = t2.port; // the box may come back on another port
  });

  it('refuses a host whose key differs from the configured pin', async () => {
    const wrongPin = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    const adapter = staticAdapter({ hostKey: wrongPin });
    const box = await staticBox(adapter);
    const e = await adapter.waitReady(box, testCtx()).then(() => undefined, (err: unknown) => err);
    expect(isProviderError(e) && e.kind).toBe('ownership');
  });

  it('validates settings and refuses a record for another host', async () => {
    expect(() => getProvider('ssh', { host: '-oProxyCommand=evil' })).toThrow(/host/);
    expect(() => getProvider('ssh', { host: 'h', workRoot: 'relative' })).toThrow(/absolute/);
    const box = await staticBox(staticAdapter());
    const e = await staticAdapter({ port: 2 }).release(box, 'delete', testCtx()).then(() => undefined, (err: unknown) => err);
    expect(isProviderError(e) && e.kind).toBe('ownership');
    expect(staticAdapter().capabilities).toEqual({ stop: false, delete: false, resume: true, discover: false });
    expect(staticAdapter().defaultReleaseAction).toBe('keep');
  });
});

describeAdapterConformance('ssh (static host = a local box)', () => staticAdapter());
