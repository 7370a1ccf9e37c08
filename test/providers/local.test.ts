/** The `local` provider against real sshd processes, plus the shared adapter conformance suite. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newLeaseId, releaseAll, testCtx, useTempStateDir } from './helpers.js';
import { describeAdapterConformance } from '../conformance/adapter-conformance.js';
import type { BoxIdentity } from '../../providers/adapter.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { sshExec } from '../../providers/common/remote.js';
import { pinHostKey } from '../../providers/common/host-key.js';
import { isProviderError } from '../../providers/errors.js';
import { getProvider, providersWithoutAdapter } from '../../providers/adapters.js';
import { providerNames } from '../../providers/registry.js';
import { boxPaths } from '../../providers/local/box.js';
import { runningSshd } from '../../providers/local/sshd.js';

const stateDir = useTempStateDir();
const adapter = getProvider('local', {});

afterAll(() => releaseAll(adapter, stateDir));

async function newBox(leaseId = newLeaseId()): Promise<BoxIdentity> {
  const key = await ensureLeaseKey(leaseId);
  return adapter.create({ leaseId, slug: 'brave-otter', publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('local provider', () => {
  it('lets a second worker key in with authorize, and refuses a forged box dir', async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMk0jA6K7yXkE9a3iJ3kxZkX3nHc1hQw1y7pQ4cQWm2V other-worker';
    await adapter.authorize!(box, other, testCtx());
    await adapter.authorize!(box, other, testCtx()); // repeatable: one line per key
    const lines = readFileSync(paths.authorizedKeys, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('other-worker');
    const forged = { ...box, details: { ...box.details, boxDir: '/etc/ssh' } };
    const e = await errorOf(adapter.release(forged, 'delete', testCtx()));
    expect(isProviderError(e) && e.kind).toBe('ownership');
    expect(existsSync(paths.json)).toBe(true);
  });

  it('registry knows local and ssh, and refuses unknown names with the list', () => {
    expect(providerNames()).toEqual(expect.arrayContaining(['local', 'ssh']));
    // Every registered provider (the CLI's view) has an adapter (the worker's view).
    expect(providersWithoutAdapter(providerNames())).toEqual([]);
    try {
      getProvider('nope', {});
      expect.unreachable();
    } catch (e) {
      expect(isProviderError(e) && e.kind).toBe('invalid');
      expect((e as Error).message).toContain('local');
    }
  });

  it('create → waitReady → exec → stop → resume (same pinned key) → delete', async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    expect(box.scope).toMatch(/^local:/);
    expect(box.details.boxDir).toBe(paths.dir);
    expect(String(box.details.boxDir).startsWith(stateDir)).toBe(true);
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).state).toBe('running');

    const cold = Date.now();
    const target = await adapter.waitReady(box, testCtx());
    const readyMs = Date.now() - cold;
    expect(target.host).toBe('127.0.0.1');
    expect(target.workRoot).toBe(paths.root);
    expect(target.hostKeys).toHaveLength(1);

    const t0 = Date.now();
    const res = await sshExec(target, 'cat; echo "$PWD" >&2; exit 7', { stdin: 'hello' });
    const warmMs = Date.now() - t0;
    expect(res).toMatchObject({ code: 7, stdout: 'hello' });
    console.log(`local: waitReady ${readyMs} ms, warm exec ${warmMs} ms`);

    const pid = runningSshd(paths)!;
    expect(pid).toBeGreaterThan(1);
    // Detached into its own session: a SIGKILLed worker (or its process group) does not take the box down.
    const sessionOf = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
    expect(sessionOf(pid)).not.toBe(sessionOf(process.pid));
    const stopped = await adapter.release(box, 'stop', testCtx());
    expect(stopped).toMatchObject({ action: 'stop', alreadyGone: false });
    expect(runningSshd(paths)).toBeUndefined();
    expect(existsSync(paths.root)).toBe(true);
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).state).toBe('stopped');
    // A stopped box refuses waitReady instead of silently starting.
    expect(isProviderError(await errorOf(adapter.waitReady(box, testCtx())))).toBe(true);

    const resumed = await adapter.resume(box, testCtx());
    expect(resumed.hostKeys).toEqual(target.hostKeys);
    expect((await sshExec(resumed, 'echo ok')).stdout.trim()).toBe('ok');

    const del = await adapter.release(box, 'delete', testCtx());
    expect(del).toMatchObject({ action: 'delete', alreadyGone: false });
    expect(existsSync(paths.dir)).toBe(false);
    expect(await adapter.findByLease({ leaseId: box.leaseId, slug: 'x' })).toEqual([]);
    expect(await adapter.release(box, 'delete', testCtx())).toMatchObject({ alreadyGone: true });
    expect(isProviderError(await errorOf(adapter.resume(box, testCtx())))).toBe(true);
  });

  it('create twice for the same lease yields one box, also when concurrent', async () => {
    const leaseId = newLeaseId();
    const [a, b] = await Promise.all([newBox(leaseId), newBox(leaseId)]);
    const c = await newBox(leaseId);
    expect(new Set([a.details.boxUid, b.details.boxUid, c.details.boxUid]).size).toBe(1);
    expect((await adapter.listOwned()).filter((r) => r.leaseId === leaseId)).toHaveLength(1);
    await adapter.release(a, 'delete', testCtx());
  });

  it('create after a crash mid-create finishes the same box instead of making another', async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    await adapter.release(box, 'stop', testCtx());
    const marker = JSON.parse(readFileSync(paths.json, 'utf8'));
    writeFileSync(paths.json, JSON.stringify({ ...marker, state: 'creating' }));
    const again = await newBox(box.leaseId);
    expect(again.details.boxUid).toBe(box.details.boxUid);
    expect(JSON.parse(readFileSync(paths.json, 'utf8')).state).toBe('running');
    expect(runningSshd(paths)).toBeGreaterThan(1);
    expect((await adapter.listOwned()).filter((r) => r.leaseId === box.leaseId)).toHaveLength(1);
    await adapter.release(box, 'delete', testCtx());
  });

  it('waitReady restarts a running box whose sshd died (worker machine reboot)', async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    const t1 = await adapter.waitReady(box, testCtx());
    process.kill(runningSshd(paths)!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    expect(runningSshd(paths)).toBeUndefined();
    const t2 = await adapter.waitReady(box, testCtx());
    expect(t2.hostKeys).toEqual(t1.hostKeys);
    expect((await sshExec(t2, 'true')).code).toBe(0);
    await adapter.release(box, 'delete', testCtx());
  });

  it('refuses a host presenting a different key than pinned (ownership, not retried)', async () => {
    const a = await newBox();
    const b = await newBox();
    const ta = await adapter.waitReady(a, testCtx());
    const tb = await adapter.waitReady(b, testCtx());
    expect(tb.hostKeys).not.toEqual(ta.hostKeys);
    // Lease A's target aimed at B's port: B answers with its own key.
    const impostor = { ...ta, port: tb.port };
    // One at a time: both started at once, the second could reject before anything awaits it.
    for (const attempt of [() => sshExec(impostor, 'touch /tmp/should-not-run'), () => pinHostKey(impostor)]) {
      const e = await errorOf(attempt());
      expect(isProviderError(e) && e.kind).toBe('ownership');
      expect((e as Error).message).toContain(`host key for ${ta.hostKeyAlias} changed`);
    }
    await adapter.release(a, 'delete', testCtx());
    await adapter.release(b, 'delete', testCtx());
  });

  it("refuses to release a box whose box.json names another lease, and leaves it untouched", async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    await adapter.waitReady(box, testCtx());
    const marker = JSON.parse(readFileSync(paths.json, 'utf8'));
    writeFileSync(paths.json, JSON.stringify({ ...marker, leaseId: 'dbx_someoneelse' }));
    const pid = runningSshd(paths);
    for (const action of ['stop', 'delete'] as const) {
      const e = await errorOf(adapter.release(box, action, testCtx()));
      expect(isProviderError(e) && e.kind).toBe('ownership');
    }
    expect(runningSshd(paths)).toBe(pid);
    expect(existsSync(join(paths.root))).toBe(true);
    // A forged resource id is refused the same way.
    writeFileSync(paths.json, JSON.stringify(marker));
    const e = await errorOf(adapter.release({ ...box, resourceId: 'local-other' }, 'delete', testCtx()));
    expect(isProviderError(e) && e.kind).toBe('ownership');
    expect(runningSshd(paths)).toBe(pid);
    await adapter.release(box, 'delete', testCtx());
  });

  it('a stale pid file never makes stop kill a stranger', async () => {
    const box = await newBox();
    const paths = boxPaths(box.leaseId);
    await adapter.release(box, 'stop', testCtx());
    writeFileSync(paths.pidFile, String(process.pid)); // our own test process: not this box's sshd
    expect(runningSshd(paths)).toBeUndefined();
    await adapter.release(box, 'delete', testCtx());
    expect(existsSync(paths.dir)).toBe(false);
  });

  it('doctor reports sshd, ssh-keygen and rsync', async () => {
    const checks = await adapter.doctor();
    for (const name of ['sshd', 'sshd version', 'ssh-keygen', 'rsync']) {
      expect(checks.find((c) => c.name === name)?.ok, name).toBe(true);
    }
  });
});

describeAdapterConformance('local', () => getProvider('local', {}));
