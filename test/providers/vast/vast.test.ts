/**
 * The `vast` provider against a fake Vast API (fake-vast.ts): real HTTP on loopback, payloads and
 * requests checked against the OpenAPI subset, and instances that are real local sshd boxes.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import { describeAdapterConformance } from '../../conformance/adapter-conformance.js';
import { FakeVast } from './fake-vast.js';
import type { BoxIdentity, ProviderAdapter } from '../../../providers/adapter.js';
import { childEnv } from '../../../providers/common/child-env.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { isProviderError, type ProviderError } from '../../../providers/errors.js';
import { getProvider } from '../../../providers/adapters.js';
import { vastConfigSchema } from '../../../providers/vast/config.js';
import { makeLabel, parseLabel } from '../../../providers/vast/label.js';
import { readRecord } from '../../../providers/vast/record.js';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { toFailure } from '../../../activities/failures.js';
import { createBox, releaseBox } from '../../../activities/lease.js';
import type { CreateBoxResult } from '../../../activities/types.js';
import { leaseConfigFlags } from '../../../cli/commands/lease-flags.js';
import { loadConfig } from '../../../cli/config/load.js';

const stateDir = useTempStateDir();
const workRoot = join(stateDir, 'work');
const ACCOUNT = 4242;
const OTHER_ACCOUNT = 777;
let fake: FakeVast;
let key: string;
let otherKey: string;
/** Every error any test saw: checked at the end for the key. */
const seenErrors: unknown[] = [];
const seenJson: string[] = [];

beforeAll(async () => {
  fake = await FakeVast.start({ pageSize: 2, bootPolls: 1 });
  key = fake.addAccount(ACCOUNT);
  otherKey = fake.addAccount(OTHER_ACCOUNT);
  process.env.VAST_API_KEY = key;
  delete process.env.DURABOX_VAST_API_KEY;
  for (let i = 0; i < 24; i++) fake.addOffer({ id: 100 + i, dph_total: 0.3 + i * 0.005, reliability2: 0.995 });
  fake.addOffer({ id: 500, gpu_name: 'H100 SXM', dph_total: 2.5 });
});

afterAll(async () => {
  await fake?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const settings = (extra: Record<string, unknown> = {}) => ({
  apiUrl: fake.url,
  gpuName: 'RTX_4090',
  maxPrice: 0.6,
  user: userInfo().username, // the fake's boxes are sshd processes of this user
  workRoot,
  pollIntervalMs: 20,
  createGraceMs: 300,
  readyTimeoutMs: 30_000,
  sshTimeoutMs: 30_000,
  ...extra,
});
const vast = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('vast', settings(extra));

async function newBox(adapter = vast(), leaseId = newLeaseId()): Promise<BoxIdentity> {
  const k = await ensureLeaseKey(leaseId);
  const box = await adapter.create({ leaseId, slug: 'brave-otter', publicKey: k.publicKey, keyPath: k.keyPath }, testCtx());
  seenJson.push(JSON.stringify(box));
  return box;
}

async function errorOf(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  seenErrors.push(e);
  if (!isProviderError(e)) throw e;
  return e;
}

const cheapestFree = () =>
  fake.offers.filter((o) => !o.rented && o.gpu_name === 'RTX 4090' && o.dph_total <= 0.6).sort((a, b) => a.dph_total - b.dph_total);

describeAdapterConformance('vast (fake API, sshd instances)', () => vast());

describe('vast provider', () => {
  it('create rents the cheapest matching offer with our label, image, disk and runtype; attaches the lease key to the instance', async () => {
    const expected = cheapestFree()[0]!;
    const box = await newBox();
    const inst = fake.instances.get(Number(box.resourceId))!;
    expect(inst.machine_id).toBe(expected.machine_id);
    expect(parseLabel(inst.label)).toEqual({ leaseId: box.leaseId, slug: 'brave-otter', state: 'provisioning' });
    expect(inst).toMatchObject({ image: 'nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04', disk: 20, runtype: 'ssh_direct' });
    expect(inst.keys).toHaveLength(1);
    expect(inst.keys[0]!.public_key).toContain(`durabox-${box.leaseId}`);
    expect(box.scope).toBe(`${fake.url}#${ACCOUNT}`);
    expect(box.details).toMatchObject({ offerId: expected.id, dphTotal: expected.dph_total, accountId: ACCOUNT, apiUrl: fake.url });
    expect(Date.parse(String(box.details.createdAt))).toBeGreaterThan(Date.now() - 60_000);
    // The quoted rate travels as the generic costPerHour: the lease's budget and status use it.
    expect(box.costPerHour).toBe(expected.dph_total);

    const search = fake.requests.filter((r) => r.operation === 'searchOffers').at(-1)!.body as Record<string, unknown>;
    expect(search).toMatchObject({
      verified: { eq: true },
      rentable: { eq: true },
      rented: { eq: false },
      direct_port_count: { gte: 1 },
      gpu_name: { eq: 'RTX 4090' },
      num_gpus: { eq: 1 },
      dph_total: { lte: 0.6 },
      type: 'ondemand',
    });

    const ctx = testCtx();
    const target = await vast().waitReady(box, ctx);
    expect(ctx.beats.some((b) => (b as { phase?: string }).phase === 'vast-wait')).toBe(true);
    expect(parseLabel(fake.instances.get(inst.id)!.label)?.state).toBe('ready');
    expect(target).toMatchObject({ host: '127.0.0.1', port: inst.port, hostKeyAlias: `durabox-${box.leaseId}`, workRoot });
    expect((await sshExec(target, 'echo hi')).stdout.trim()).toBe('hi');
    seenJson.push(JSON.stringify(target));

    await vast().release(box, 'delete', testCtx());
    expect(fake.instances.has(inst.id)).toBe(false);
  });

  it('an offer taken between search and rent: the next offer is rented, each attempt recorded', async () => {
    const [first, second] = cheapestFree();
    fake.takeOnRent.add(first!.id);
    const leaseId = newLeaseId();
    const k = await ensureLeaseKey(leaseId);
    const ctx = testCtx();
    const box = await vast().create({ leaseId, slug: 's', publicKey: k.publicKey, keyPath: k.keyPath }, ctx);
    expect(box.details.offerId).toBe(second!.id);
    expect(box.details.offersTried).toBe(`${first!.id}:taken,${second!.id}:rented`);
    expect(ctx.logs.join('\n')).toContain(`offer ${first!.id} was taken`);
    expect(readRecord(leaseId)!.attempts.map((a) => [a.offerId, a.outcome])).toEqual([
      [first!.id, 'taken'],
      [second!.id, 'rented'],
    ]);
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(1);
    await vast().release(box, 'delete', testCtx());
  });

  it('offers taken up to maxOffers: capacity, naming the offers; nothing rented', async () => {
    const free = cheapestFree().slice(0, 2);
    for (const o of free) fake.takeOnRent.add(o.id);
    const leaseId = newLeaseId();
    const e = await errorOf(newBox(vast({ maxOffers: 2 }), leaseId));
    expect(e.kind).toBe('capacity');
    expect(e.message).toContain(`${free[0]!.id}, ${free[1]!.id}`);
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(0);
    for (const o of free) o.rented = false;
  });

  it('no matching offer fails fast and says which filter excluded what', async () => {
    const e = await errorOf(newBox(vast({ maxPrice: 0.05 })));
    expect(e.kind).toBe('capacity');
    expect(toFailure(e)).toMatchObject({ nonRetryable: true, type: 'Provider.capacity' });
    expect(e.message).toMatch(/dph_total<=0\.05/);
    expect(e.message).toMatch(/cost more than max-price \$0\.05\/h \(cheapest \$0\.3\d*\/h\)/);
    const none = await errorOf(newBox(vast({ gpuName: 'A100_PCIE' })));
    expect(none.message).toContain('no verified, rentable offer has 1 x A100_PCIE');
    // The cap is re-checked on our side even if the server returned a pricier offer.
    const h100 = fake.offers.find((o) => o.id === 500)!;
    fake.ignoreFilters = true;
    try {
      const e2 = await errorOf(newBox(vast({ gpuName: 'H100_SXM', maxPrice: 2 })));
      expect(e2.kind).toBe('capacity');
    } finally {
      fake.ignoreFilters = false;
    }
    expect(h100.rented).toBe(false);
    expect(fake.requests.filter((r) => r.operation === 'createInstance' && r.path.includes('/500/'))).toEqual([]);
  });

  it('ambiguous create (Vast creates, then answers 500): the label lookup adopts it, no duplicate', async () => {
    fake.fail('createInstance', { status: 500, apply: true, body: { success: false, error: 'server_error', msg: 'Internal Server Error' } });
    const leaseId = newLeaseId();
    const ctx = testCtx();
    const k = await ensureLeaseKey(leaseId);
    const box = await vast().create({ leaseId, slug: 's', publicKey: k.publicKey, keyPath: k.keyPath }, ctx);
    expect(ctx.logs.join('\n')).toMatch(/may have succeeded/);
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(1);
    expect(box.resourceId).toBe(String(fake.list(ACCOUNT, leaseId)[0]!.id));
    await vast().release(box, 'delete', testCtx());
  });

  it('ambiguous create while the inventory lags: `ambiguous`; the retry adopts the instance and waitReady attaches the key', async () => {
    fake.fail('createInstance', { status: 502, apply: true, raw: '<html>bad gateway</html>' });
    fake.listLagMs = 1_500; // the new instance is not listed yet, so this attempt cannot tell
    const leaseId = newLeaseId();
    try {
      const e = await errorOf(newBox(vast({ createGraceMs: 0 }), leaseId));
      expect(e).toMatchObject({ kind: 'ambiguous', status: 502 });
      expect(toFailure(e)).toMatchObject({ nonRetryable: false, type: 'Provider.ambiguous' });
      expect(await vast().findByLease({ leaseId, slug: 's' })).toEqual([]);
      await sleep(1_600);
    } finally {
      fake.listLagMs = 0;
    }
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(1);
    const inst = fake.list(ACCOUNT, leaseId)[0]!;
    expect(inst.keys).toHaveLength(0);
    expect(readRecord(leaseId)!.attempts.at(-1)!.outcome).toBe('ambiguous');

    // What createBox does on the retry: findByLease first, adopt the one match.
    const found = await vast().findByLease({ leaseId, slug: 's' });
    expect(found.map((b) => b.resourceId)).toEqual([String(inst.id)]);
    const again = await newBox(vast(), leaseId); // an adapter-level retry adopts too
    expect(again.resourceId).toBe(String(inst.id));
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(1);
    const target = await vast().waitReady(found[0]!, testCtx());
    expect(inst.keys).toHaveLength(1);
    expect((await sshExec(target, 'true')).code).toBe(0);
    await vast().release(found[0]!, 'delete', testCtx());
  });

  it('ambiguous create within the grace window: the same attempt finds the lagging instance and adopts it', async () => {
    fake.fail('createInstance', { status: 504, apply: true });
    fake.listLagMs = 400;
    const leaseId = newLeaseId();
    try {
      const box = await newBox(vast({ createGraceMs: 5_000 }), leaseId);
      expect(fake.list(ACCOUNT, leaseId).map((i) => String(i.id))).toEqual([box.resourceId]);
      expect(box.details.offerId).toBeDefined();
      await vast().release(box, 'delete', testCtx());
    } finally {
      fake.listLagMs = 0;
    }
  });

  it('through the activities: createBox fails as Provider.ambiguous, its retry adopts; rollback releaseBox without an identity finds and deletes exactly that one', async () => {
    const leaseId = newLeaseId();
    const input = { provider: 'vast', providerConfig: settings({ createGraceMs: 0 }), leaseId, slug: 'act' };
    fake.fail('createInstance', { status: 500, apply: true });
    fake.listLagMs = 1_500;
    try {
      const err = await new MockActivityEnvironment().run(createBox, input).catch((e: unknown) => e);
      seenErrors.push(err);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: 'Provider.ambiguous', nonRetryable: false });
      await sleep(1_600);
    } finally {
      fake.listLagMs = 0;
    }
    const res = (await new MockActivityEnvironment().run(createBox, input)) as CreateBoxResult;
    expect(res).toMatchObject({ adopted: true, defaultReleaseAction: 'delete' });
    expect(fake.list(ACCOUNT, leaseId).map((i) => String(i.id))).toEqual([res.box.resourceId]);
    const rel = await new MockActivityEnvironment().run(releaseBox, { ...input, action: 'delete' as const });
    expect(rel).toMatchObject({ action: 'delete', count: 1, alreadyGone: false });
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(0);
  });

  it('429 with Retry-After: a long wait is handed to Temporal as retryAfterMs; a short one is waited out', async () => {
    fake.fail('showUser', { status: 429, retryAfter: '120', body: { detail: 'API requests too frequent endpoint threshold=2.0' } });
    const e = await errorOf(vast().findByLease({ leaseId: newLeaseId(), slug: 's' }));
    expect(e).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 120_000 });
    expect(e.message).toContain('API requests too frequent');
    const f = toFailure(e) as { nextRetryDelay?: unknown; nonRetryable: boolean };
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(120_000);

    fake.fail('showUser', { status: 429, retryAfter: '1', raw: 'API requests too frequent' });
    const t0 = Date.now();
    expect(await vast().findByLease({ leaseId: newLeaseId(), slug: 's' })).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);

    // On the rent call a 429 is ambiguous (precedent: it may have been applied), with the delay kept.
    fake.fail('createInstance', { status: 429, retryAfter: '30', body: { detail: 'API requests too frequent endpoint threshold=4.5' } });
    const leaseId = newLeaseId();
    const amb = await errorOf(newBox(vast({ createGraceMs: 0 }), leaseId));
    expect(amb).toMatchObject({ kind: 'ambiguous', status: 429, retryAfterMs: 30_000 });
    expect(fake.list(ACCOUNT, leaseId)).toHaveLength(0);
  });

  it('500s then success: read calls retry inside the activity', async () => {
    fake.fail('showUser', { status: 500 }, { status: 503, raw: 'upstream down' });
    fake.fail('searchOffers', { status: 502 });
    const box = await newBox();
    expect(fake.list(ACCOUNT, box.leaseId)).toHaveLength(1);
    await vast().release(box, 'delete', testCtx());
  });

  it('401: a clear, non-retryable auth error with a hint, the key redacted; a missing key names the variables', async () => {
    const bogus = 'f'.repeat(64);
    process.env.VAST_API_KEY = bogus;
    try {
      const e = await errorOf(vast().findByLease({ leaseId: newLeaseId(), slug: 's' }));
      expect(e).toMatchObject({ kind: 'auth', status: 401 });
      expect(e.message).toContain('Invalid user key');
      expect(e.message).toContain('VAST_API_KEY');
      expect(e.message).not.toContain(bogus);
      expect(toFailure(e)).toMatchObject({ nonRetryable: true, type: 'Provider.auth' });
      // /bundles answers a bad key with 404 "Invalid user key": still auth.
      const leaseId = newLeaseId();
      process.env.VAST_API_KEY = key;
      fake.fail('searchOffers', { status: 404, body: { error: 'auth_error', msg: 'Invalid user key' } });
      const s = await errorOf(newBox(vast(), leaseId));
      expect(s.kind).toBe('auth');
      delete process.env.VAST_API_KEY;
      const missing = await errorOf(vast().findByLease({ leaseId, slug: 's' }));
      expect(missing.kind).toBe('auth');
      expect(missing.message).toMatch(/VAST_API_KEY or DURABOX_VAST_API_KEY/);
      // DURABOX_VAST_API_KEY is the fallback name.
      process.env.DURABOX_VAST_API_KEY = key;
      expect(await vast().findByLease({ leaseId, slug: 's' })).toEqual([]);
    } finally {
      delete process.env.DURABOX_VAST_API_KEY;
      process.env.VAST_API_KEY = key;
    }
  });

  it('malformed JSON: a clear `invalid` error with the status', async () => {
    fake.fail('showUser', { status: 200, raw: '{"id": 42, "email": ' });
    const e = await errorOf(vast().findByLease({ leaseId: newLeaseId(), slug: 's' }));
    expect(e).toMatchObject({ kind: 'invalid', status: 200 });
    expect(e.message).toMatch(/GET \/api\/v0\/users\/current\/ → answered 200 with a body that is not JSON/);
    fake.fail('showUser', { status: 200, body: { id: 'not-a-number' } });
    const shape = await errorOf(vast().findByLease({ leaseId: newLeaseId(), slug: 's' }));
    expect(shape.message).toMatch(/unexpected shape at id/);
  });

  it('foreign instances (no label, a user label, another lease, another account) are never found, listed as ours or touched', async () => {
    const noLabel = fake.addForeignInstance(ACCOUNT, null);
    const userLabel = fake.addForeignInstance(ACCOUNT, 'my training job');
    const otherLease = fake.addForeignInstance(ACCOUNT, makeLabel('dbx_0123456789ab', 'x', 'ready'));
    const lookalike = fake.addForeignInstance(ACCOUNT, `durabox2|${'dbx_aaaaaaaaaaaa'}|x|ready`);
    const mine = await newBox();
    const foreign = [noLabel, userLabel, otherLease, lookalike];
    const before = foreign.map((i) => JSON.stringify(fake.view(i)));

    expect((await vast().findByLease({ leaseId: mine.leaseId, slug: 'x' })).map((b) => b.resourceId)).toEqual([mine.resourceId]);
    const owned = await vast().listOwned();
    expect(owned.map((o) => o.resourceId)).not.toContain(String(noLabel.id));
    expect(owned.map((o) => o.resourceId)).not.toContain(String(userLabel.id));
    expect(owned.map((o) => o.resourceId)).not.toContain(String(lookalike.id));
    expect(owned.find((o) => o.resourceId === String(otherLease.id))?.leaseId).toBe('dbx_0123456789ab');

    for (const f of foreign) {
      for (const action of ['delete', 'stop'] as const) {
        const forged: BoxIdentity = { ...mine, resourceId: String(f.id) };
        const e = await errorOf(vast().release(forged, action, testCtx()));
        expect(e.kind).toBe('ownership');
      }
    }
    // Another account's instance is invisible to ours, and a box recorded under another account is refused.
    process.env.VAST_API_KEY = otherKey;
    try {
      const e = await errorOf(vast().release(mine, 'delete', testCtx()));
      expect(e.kind).toBe('ownership');
      expect(e.message).toContain(`#${ACCOUNT}`);
      expect(await vast().findByLease({ leaseId: mine.leaseId, slug: 'x' })).toEqual([]);
    } finally {
      process.env.VAST_API_KEY = key;
    }
    expect(foreign.map((i) => JSON.stringify(fake.view(i)))).toEqual(before);
    expect(fake.instances.has(Number(mine.resourceId))).toBe(true);
    const mutations = fake.requests.filter((r) => r.method !== 'GET' && foreign.some((f) => r.path.includes(`/${f.id}/`)));
    expect(mutations).toEqual([]);
    await vast().release(mine, 'delete', testCtx());
    for (const f of foreign) fake.instances.delete(f.id);
  });

  it('release: delete detaches our key before destroying; stop relabels; keep makes no call', async () => {
    const box = await newBox();
    const id = Number(box.resourceId);
    await vast().waitReady(box, testCtx());
    const n = fake.requests.length;
    expect(await vast().release(box, 'keep', testCtx())).toMatchObject({ action: 'keep', alreadyGone: false });
    expect(fake.requests.length).toBe(n);

    await vast().release(box, 'stop', testCtx());
    expect(parseLabel(fake.instances.get(id)!.label)?.state).toBe('stopped');
    expect(fake.instances.get(id)!.intended_status).toBe('stopped');
    expect((await vast().findByLease({ leaseId: box.leaseId, slug: 'x' })).length).toBe(1);

    const from = fake.requests.length;
    await vast().release(box, 'delete', testCtx());
    const ops = fake.requests.slice(from).filter((r) => r.method !== 'GET').map((r) => r.operation);
    expect(ops).toEqual(['detachSshKey', 'destroyInstance']);
    // 404 on a direct lookup afterwards: released again is alreadyGone.
    expect(await vast().release(box, 'delete', testCtx())).toMatchObject({ alreadyGone: true });
  });

  it('an instance that fails to start: waitReady fails (capacity) instead of waiting out the limit', async () => {
    const box = await newBox();
    fake.instances.get(Number(box.resourceId))!.failWith = 'exited';
    const e = await errorOf(vast().waitReady(box, testCtx()));
    expect(e.kind).toBe('capacity');
    expect(e.message).toMatch(/went exited/);
    await vast().release(box, 'delete', testCtx());
  });

  it('listing pages through v1 with next_token → after_token, and falls back to the v0 list', async () => {
    const a = await newBox();
    const b = await newBox();
    const c = await newBox();
    const from = fake.requests.length;
    const owned = await vast().listOwned();
    expect(owned.map((o) => o.resourceId)).toEqual(expect.arrayContaining([a.resourceId, b.resourceId, c.resourceId]));
    const pages = fake.requests.slice(from).filter((r) => r.operation === 'showInstances');
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages[1]!.url).toContain('after_token=');
    fake.v1Missing = true;
    try {
      expect((await vast().findByLease({ leaseId: b.leaseId, slug: 'x' })).map((x) => x.resourceId)).toEqual([b.resourceId]);
    } finally {
      fake.v1Missing = false;
    }
    for (const x of [a, b, c]) await vast().release(x, 'delete', testCtx());
  });

  it('interruptible: searches bids and rents with a price no higher than max-price', async () => {
    const box = await newBox(vast({ instanceType: 'interruptible', maxPrice: 0.5 }));
    const put = fake.requests.filter((r) => r.operation === 'createInstance').at(-1)!.body as { price?: number };
    expect(put.price).toBeGreaterThan(0);
    expect(put.price).toBeLessThanOrEqual(0.5);
    expect((fake.requests.filter((r) => r.operation === 'searchOffers').at(-1)!.body as { type: string }).type).toBe('bid');
    await vast().release(box, 'delete', testCtx());
  });

  it('doctor: key by name, account, inventory; read-only', async () => {
    const from = fake.requests.length;
    const checks = await vast().doctor();
    expect(checks.find((c) => c.name === 'api key')).toMatchObject({ ok: true, detail: 'VAST_API_KEY is set' });
    expect(checks.find((c) => c.name === 'account')).toMatchObject({ ok: true });
    expect(checks.find((c) => c.name === 'account')!.detail).toContain(String(ACCOUNT));
    expect(checks.find((c) => c.name === 'instances')!.detail).toMatch(/\d+ total, \d+ with a durabox label/);
    expect(JSON.stringify(checks)).not.toContain(key);
    expect(fake.requests.slice(from).every((r) => r.method === 'GET')).toBe(true);
  });
});

describe('vast config, flags and cost', () => {
  const parse = (v: Record<string, unknown>) => vastConfigSchema().safeParse(v);

  it('apiUrl: https, or http only on loopback; no credentials, query or fragment; /api/v0 suffix normalized', () => {
    expect(parse({}).data?.apiUrl).toBe('https://console.vast.ai');
    expect(parse({ apiUrl: 'https://console.vast.ai/api/v0/' }).data?.apiUrl).toBe('https://console.vast.ai');
    expect(parse({ apiUrl: 'http://127.0.0.1:9999' }).success).toBe(true);
    for (const bad of ['http://console.vast.ai', 'https://u:p@console.vast.ai', 'https://console.vast.ai/?api_key=x', 'https://console.vast.ai/#x', 'ftp://x', 'nope']) {
      expect(parse({ apiUrl: bad }).success, bad).toBe(false);
    }
    expect(parse({ workRoot: '/root' }).success).toBe(false);
    expect(parse({ maxPrice: -1 }).success).toBe(false);
    expect(parse({ minReliability: 1.5 }).success).toBe(false);
    expect(parse({})).toMatchObject({ success: true, data: { diskGB: 20, user: 'root', runtype: 'ssh_direct', maxOffers: 3, instanceType: 'on-demand' } });
  });

  it('--gpu/--gpu-count/--max-price/--vast-image/--vast-disk map to the vast section; repository config may not set apiUrl', () => {
    const layer = leaseConfigFlags({ provider: 'vast', gpu: 'RTX_4090', gpuCount: '2', maxPrice: '0.60', vastImage: 'pytorch/pytorch:latest', vastDisk: '40' });
    expect(layer.vast).toEqual({ gpuName: 'RTX_4090', gpuCount: 2, maxPrice: 0.6, image: 'pytorch/pytorch:latest', diskGB: 40 });
    const repo = mkdtempSync(join(tmpdir(), 'dbx-vast-repo-'));
    const env = { DURABOX_CONFIG: join(repo, 'no-user-config.yaml') };
    try {
      const loaded = loadConfig({ flags: layer, env, repoRoot: repo });
      expect(loaded.providerConfig).toMatchObject({ gpuName: 'RTX_4090', gpuCount: 2, maxPrice: 0.6, diskGB: 40 });
      writeFileSync(join(repo, 'durabox.yaml'), 'vast:\n  apiUrl: https://evil.example\n');
      expect(() => loadConfig({ flags: layer, env, repoRoot: repo })).toThrow(/vast\.apiUrl may not be set in repository config/);
      writeFileSync(join(repo, 'durabox.yaml'), 'vast:\n  gpuName: A100\n');
      expect(loadConfig({ flags: { provider: 'vast' }, env, repoRoot: repo }).providerConfig).toMatchObject({ gpuName: 'A100' });
      expect(() => loadConfig({ flags: leaseConfigFlags({ provider: 'vast', maxPrice: 'cheap' }), env, repoRoot: repo })).toThrow(/maxPrice/);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('labels: only our version tag parses', () => {
    expect(parseLabel(makeLabel('dbx_0123456789ab', 'brave otter!', 'ready'))).toEqual({ leaseId: 'dbx_0123456789ab', slug: 'brave-otter', state: 'ready' });
    for (const l of [null, '', 'my job', 'durabox2|dbx_1|x|ready', 'durabox1|dbx 1|x|ready', 'durabox1|dbx_1|x', 'durabox1|dbx_1|x|ready|extra']) {
      expect(parseLabel(l), String(l)).toBeUndefined();
    }
  });
});

describe('vast: after everything', () => {
  it('every request and response matched the OpenAPI subset; the key never left the Authorization header', () => {
    expect(fake.violations).toEqual([]);
    for (const r of fake.requests) {
      expect(r.url).not.toContain(key);
      expect(r.url).not.toMatch(/api_key/);
      expect(JSON.stringify(r.body ?? null)).not.toContain(key);
    }
    expect(fake.requests.filter((r) => r.authorization === `Bearer ${key}`).length).toBeGreaterThan(10);
    expect(seenErrors.length).toBeGreaterThan(5);
    for (const e of seenErrors) {
      const text = `${(e as Error).message} ${JSON.stringify(e)} ${String((e as Error).stack)}`;
      expect(text).not.toContain(key);
      expect(text).not.toContain(otherKey);
    }
    for (const j of seenJson) expect(j).not.toContain(key);
    // No child process (ssh, rsync, sshd) inherits the key.
    process.env.DURABOX_VAST_API_KEY = otherKey;
    try {
      const env = childEnv();
      expect(env.VAST_API_KEY).toBeUndefined();
      expect(env.DURABOX_VAST_API_KEY).toBeUndefined();
      expect(JSON.stringify(env)).not.toContain(key);
    } finally {
      delete process.env.DURABOX_VAST_API_KEY;
    }
    // Lease records on the worker hold no key either.
    const leases = join(stateDir, 'leases');
    mkdirSync(leases, { recursive: true });
    for (const d of readdirSync(leases)) {
      const f = join(leases, d, 'vast.json');
      if (existsSync(f)) expect(readFileSync(f, 'utf8')).not.toContain(key);
    }
  });
});
