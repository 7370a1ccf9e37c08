/**
 * The `sealos-devbox` provider against a fake Kubernetes API (fake-kube.ts): real HTTP on loopback
 * through @kubernetes/client-node with a kubeconfig and a bearer token, requests and objects checked
 * against the Devbox CRD and the Kubernetes schema subset, a controller loop, and DevBoxes that are
 * real local sshd boxes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir, type RecordingContext } from '../helpers.js';
import { describeAdapterConformance } from '../../conformance/adapter-conformance.js';
import { FakeKube } from './fake-kube.js';
import type { BoxIdentity, ProviderAdapter, SshTarget } from '../../../providers/adapter.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { sshCommandLine } from '../../../providers/common/ssh-options.js';
import { freePort } from '../../../providers/local/sshd.js';
import { isProviderError, type ProviderError } from '../../../providers/errors.js';
import { getProvider } from '../../../providers/adapters.js';
import { KEY_FILE } from '../../../providers/sealos-devbox/adapter.js';
import { sealosConfigSchema } from '../../../providers/sealos-devbox/config.js';
import { devboxName, L_LEASE, leaseLabels } from '../../../providers/sealos-devbox/markers.js';
import { leaseConfigFlags } from '../../../cli/commands/lease-flags.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBox, releaseBox, waitBoxReady } from '../../../activities/lease.js';
import type { CreateBoxResult } from '../../../activities/types.js';
import { loadConfig } from '../../../cli/config/load.js';

const stateDir = useTempStateDir();
const workRoot = join(stateDir, 'work');
const NS = 'ns-dev';
let fake: FakeKube;
let kubeconfig: string;
const seenErrors: unknown[] = [];
const seenJson: string[] = [];
const contexts: RecordingContext[] = [];
const ctx = () => {
  const c = testCtx();
  contexts.push(c);
  return c;
};

beforeAll(async () => {
  fake = await FakeKube.start();
  kubeconfig = fake.kubeconfig(join(stateDir, 'kubeconfig'), NS);
  process.env.KUBECONFIG = kubeconfig; // the default path: no `kubeconfig` setting needed
});

afterAll(async () => {
  await fake?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const settings = (extra: Record<string, unknown> = {}) => ({
  image: 'ghcr.io/labring-actions/devbox/ubuntu-22.04:latest',
  network: 'NodePort',
  nodeHost: '127.0.0.1',
  sshUser: userInfo().username, // the fake's DevBoxes are sshd processes of this user
  workRoot,
  workingDir: workRoot,
  pollIntervalMs: 20,
  createGraceMs: 300,
  readyTimeoutMs: 30_000,
  nodePortTimeoutMs: 800,
  sshTimeoutMs: 30_000,
  ...extra,
});
const sealos = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('sealos-devbox', settings(extra));

async function newBox(adapter = sealos(), leaseId = newLeaseId(), slug = 'brave-otter'): Promise<BoxIdentity> {
  const k = await ensureLeaseKey(leaseId);
  const box = await adapter.create({ leaseId, slug, publicKey: k.publicKey, keyPath: k.keyPath }, ctx());
  seenJson.push(JSON.stringify(box));
  return box;
}

async function ready(box: BoxIdentity, adapter = sealos()): Promise<SshTarget> {
  const t = await adapter.waitReady(box, ctx());
  seenJson.push(JSON.stringify(t), sshCommandLine(t));
  return t;
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

const mutationsOf = (name: string) => fake.requests.filter((r) => r.method !== 'GET' && r.url.includes(`/devboxes/${name}`));

describeAdapterConformance('sealos-devbox (fake Kubernetes API, sshd DevBoxes)', () => sealos());

describe('sealos-devbox provider', () => {
  it('create posts a Devbox that follows the CRD, labelled and annotated with the lease; waitReady uses the Secret key and the NodePort', async () => {
    const leaseId = newLeaseId();
    const box = await newBox(sealos({ templateId: 'tpl-ubuntu', cpu: '1500m', memory: '3Gi', storage: '15Gi' }), leaseId);
    const name = devboxName(leaseId, 'brave-otter');
    expect(box.resourceId).toBe(name);
    const obj = fake.get(NS, name)!;
    expect(obj.spec).toMatchObject({
      state: 'Running',
      image: 'ghcr.io/labring-actions/devbox/ubuntu-22.04:latest',
      templateID: 'tpl-ubuntu',
      resource: { cpu: '1500m', memory: '3Gi' },
      storageLimit: '15Gi',
      network: { type: 'NodePort' },
      config: { user: userInfo().username, workingDir: workRoot, ports: [{ name: 'devbox-ssh-port', containerPort: 22, protocol: 'TCP' }] },
    });
    expect(obj.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'durabox', 'durabox.dev/provider': 'sealos-devbox', [L_LEASE]: leaseId, 'durabox.dev/slug': 'brave-otter' });
    expect(obj.metadata.labels['durabox.dev/provider-scope']).toMatch(/^[0-9a-f]{16}$/);
    expect(obj.metadata.annotations).toMatchObject({ 'durabox.dev/lease-id': leaseId, 'durabox.dev/release-action': 'stop' });
    expect(box.details).toMatchObject({ uid: obj.metadata.uid, namespace: NS, context: 'fake-ctx', server: fake.url, network: 'NodePort' });
    expect(box.scope).toBe(`${fake.url}#fake-ctx/${NS}|NodePort@127.0.0.1`);

    const c = ctx();
    const target = await sealos().waitReady(box, c);
    expect(c.beats.some((b) => (b as { phase?: string }).phase === 'devbox-wait')).toBe(true);
    expect(target).toMatchObject({ host: '127.0.0.1', port: fake.sshPortOf(obj.metadata.uid), hostKeyAlias: `durabox-${leaseId}`, workRoot });
    expect(target.port).toBe(fake.get(NS, name)!.status.network.nodePort);
    expect(target.keyPath).toBe(join(stateDir, 'leases', leaseId, KEY_FILE));
    expect(statSync(target.keyPath).mode & 0o777).toBe(0o600);
    expect(target.hostKeys.length).toBeGreaterThan(0);
    expect((await sshExec(target, 'echo hi')).stdout.trim()).toBe('hi');
    seenJson.push(JSON.stringify(target));

    // default release is pause: a merge patch with resourceVersion, then the observed phase is Paused.
    const adapter = sealos();
    expect(adapter.defaultReleaseAction).toBe('stop');
    const from = fake.requests.length;
    const res = await adapter.release(box, 'stop', ctx());
    expect(res).toMatchObject({ action: 'stop', alreadyGone: false });
    const patch = fake.requests.slice(from).find((r) => r.method === 'PATCH')!;
    expect(patch.contentType).toMatch(/^application\/merge-patch\+json/);
    expect(patch.body).toMatchObject({ spec: { state: 'Paused' }, metadata: { resourceVersion: expect.any(String) } });
    expect(fake.get(NS, name)!.status.phase).toBe('Paused');

    const back = await sealos().resume(box, ctx());
    expect(back.hostKeys).toEqual(target.hostKeys);
    expect((await sshExec(back, 'echo again')).stdout.trim()).toBe('again');

    const delFrom = fake.requests.length;
    expect(await sealos().release(box, 'delete', ctx())).toMatchObject({ action: 'delete', alreadyGone: false });
    const del = fake.requests.slice(delFrom).find((r) => r.method === 'DELETE')!;
    expect(del.body).toMatchObject({ kind: 'DeleteOptions', preconditions: { uid: obj.metadata.uid, resourceVersion: expect.any(String) }, propagationPolicy: 'Background' });
    expect(fake.get(NS, name)).toBeUndefined();
    expect(existsSync(target.keyPath)).toBe(false);
  });

  it('AlreadyExists: a foreign Devbox with our name is refused and left alone; an ambiguous create (applied, then 504) is adopted by its labels', async () => {
    const leaseId = newLeaseId();
    const name = devboxName(leaseId, 'taken');
    const foreign = fake.addForeign(NS, name, { app: 'someone-else' });
    const before = JSON.stringify(foreign);
    const e = await errorOf(newBox(sealos(), leaseId, 'taken'));
    expect(e.kind).toBe('conflict');
    expect(e.message).toContain(`Devbox ${name} already exists in namespace ${NS} and its labels do not name lease ${leaseId}`);
    expect(JSON.stringify(fake.get(NS, name))).toBe(before);
    expect(mutationsOf(name).filter((r) => r.method !== 'POST')).toEqual([]);
    fake.devboxes.delete(`${NS}/${name}`);

    fake.failCreateAfterApply = 504;
    const lease2 = newLeaseId();
    const c = ctx();
    const k = await ensureLeaseKey(lease2);
    const box = await sealos().create({ leaseId: lease2, slug: 's', publicKey: k.publicKey, keyPath: k.keyPath }, c);
    expect(c.logs.join('\n')).toMatch(/may have succeeded/);
    expect([...fake.devboxes.values()].filter((d) => d.metadata.labels?.[L_LEASE] === lease2)).toHaveLength(1);
    // A retried create adopts instead of making a second one.
    expect((await newBox(sealos(), lease2, 's')).resourceId).toBe(box.resourceId);
    await sealos().release(box, 'delete', ctx());
  });

  it("a Secret whose controller owner is not this Devbox (name and uid) is refused; no key is written", async () => {
    const leaseId = newLeaseId();
    const name = devboxName(leaseId, 'owner');
    fake.wrongSecretOwner.set(name, { apiVersion: 'devbox.sealos.io/v1alpha2', kind: 'Devbox', name, uid: '00000000-0000-4000-8000-000000000000', controller: true });
    const box = await newBox(sealos(), leaseId, 'owner');
    const e = await errorOf(sealos().waitReady(box, ctx()));
    expect(e.kind).toBe('ownership');
    expect(e.message).toMatch(/Secret .* is controlled by Devbox .* \(uid 00000000-0000-4000-8000-000000000000\), not Devbox/);
    expect(existsSync(join(stateDir, 'leases', leaseId, KEY_FILE))).toBe(false);
    fake.wrongSecretOwner.set(name, { apiVersion: 'v1', kind: 'ConfigMap', name, uid: box.details.uid, controller: true });
    fake.secrets.delete(`${NS}/${name}`);
    expect((await errorOf(sealos().waitReady(box, ctx()))).kind).toBe('ownership');
    fake.wrongSecretOwner.delete(name);
    await sealos().release(box, 'delete', ctx());
  });

  it('a stale resourceVersion on the pause patch (409) is re-read, re-verified and retried with the new version', async () => {
    const box = await newBox();
    await ready(box);
    fake.racePatch = 1;
    const from = fake.requests.length;
    const c = ctx();
    await sealos().release(box, 'stop', c);
    const patches = fake.requests.slice(from).filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(2);
    const rv = (p: (typeof patches)[number]) => Number((p.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
    expect(rv(patches[1]!)).toBeGreaterThan(rv(patches[0]!));
    expect(c.logs.join('\n')).toMatch(/changed since it was read/);
    expect(fake.get(NS, box.resourceId)!.spec.state).toBe('Paused');
    await sealos().release(box, 'delete', ctx());
  });

  it("the CRD's CEL rule (no state change while the content is committing) is a transient error; it passes once committed", async () => {
    const box = await newBox();
    await ready(box);
    const d = fake.get(NS, box.resourceId)!;
    d.status.commitRecords[d.status.contentID].commitStatus = 'Committing';
    const e = await errorOf(sealos().release(box, 'stop', ctx()));
    expect(e).toMatchObject({ kind: 'transient', status: 422 });
    expect(e.message).toMatch(/still being committed/);
    expect(fake.get(NS, box.resourceId)!.spec.state).toBe('Running');
    d.status.commitRecords[d.status.contentID].commitStatus = 'Success';
    expect(await sealos().release(box, 'stop', ctx())).toMatchObject({ action: 'stop' });
    await sealos().release(box, 'delete', ctx());
  });

  it('delete preconditions: a replaced object (other uid, foreign labels) is refused and survives; a mere resourceVersion bump is retried', async () => {
    const box = await newBox();
    const name = box.resourceId;
    let foreignUid = '';
    fake.raceDelete = (cur) => {
      // Someone deleted ours and made their own Devbox under the same name.
      cur.metadata.uid = foreignUid = crypto.randomUUID();
      cur.metadata.labels = { app: 'theirs' };
      cur.metadata.resourceVersion = fake.nextRV();
    };
    const e = await errorOf(sealos().release(box, 'delete', ctx()));
    expect(e.kind).toBe('ownership');
    expect(fake.get(NS, name)).toBeDefined();
    expect(fake.get(NS, name)!.metadata.uid).toBe(foreignUid);
    expect(fake.get(NS, name)!.metadata.deletionTimestamp).toBeUndefined();
    const deletes = mutationsOf(name).filter((r) => r.method === 'DELETE');
    expect(deletes).toHaveLength(1);
    expect((deletes[0]!.body as { preconditions: { uid: string } }).preconditions.uid).toBe(box.details.uid);
    fake.devboxes.delete(`${NS}/${name}`);

    const box2 = await newBox();
    fake.raceDelete = (cur) => {
      cur.metadata.resourceVersion = fake.nextRV();
    };
    expect(await sealos().release(box2, 'delete', ctx())).toMatchObject({ action: 'delete', alreadyGone: false });
    // At least one 409 and a retry (more when the controller also wrote status in between).
    const dels = mutationsOf(box2.resourceId).filter((r) => r.method === 'DELETE');
    expect(dels.length).toBeGreaterThanOrEqual(2);
    for (const r of dels) expect((r.body as { preconditions: { uid: string } }).preconditions.uid).toBe(box2.details.uid);
    expect(fake.get(NS, box2.resourceId)).toBeUndefined();
  });

  it('NodePort without a published SSH port waits, then fails clearly; phase Error fails with the events', async () => {
    const leaseId = newLeaseId();
    fake.withholdNodePort.add(devboxName(leaseId, 'np'));
    const box = await newBox(sealos(), leaseId, 'np');
    const t0 = Date.now();
    const e = await errorOf(sealos().waitReady(box, ctx()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    expect(e.kind).toBe('invalid');
    expect(e.message).toMatch(/runs but has published no SSH node port \(status\.network\.nodePort\) after 1 s/);
    await sealos().release(box, 'delete', ctx());

    const lease2 = newLeaseId();
    fake.failToStart.add(devboxName(lease2, 'err'));
    const bad = await newBox(sealos(), lease2, 'err');
    const e2 = await errorOf(sealos().waitReady(bad, ctx()));
    expect(e2.kind).toBe('capacity');
    expect(e2.message).toMatch(/phase Error .*ImagePullBackOff.*Failed: Failed to pull image/);
    await sealos().release(bad, 'delete', ctx());
  });

  it('activities: create is idempotent across retries; a failed acquire rolls back with the default (pause), never delete', async () => {
    const leaseId = newLeaseId();
    const input = { provider: 'sealos-devbox', providerConfig: settings(), leaseId, slug: 'retry' };
    const name = devboxName(leaseId, 'retry');
    // A retried create (the worker died after the first one): found by its labels, not duplicated.
    const first = (await new MockActivityEnvironment().run(createBox, input)) as CreateBoxResult;
    const again = (await new MockActivityEnvironment({ attempt: 2 }).run(createBox, input)) as CreateBoxResult;
    seenJson.push(JSON.stringify(first), JSON.stringify(again));
    expect(first).toMatchObject({ adopted: false, defaultReleaseAction: 'stop' });
    expect(again).toMatchObject({ adopted: true, box: { resourceId: first.box.resourceId } });
    expect([...fake.devboxes.values()].filter((d) => d.metadata.labels?.[L_LEASE] === leaseId)).toHaveLength(1);
    await new MockActivityEnvironment().run(releaseBox, { ...input, box: first.box, action: 'delete' });

    // A DevBox that never starts (its image cannot be pulled): wait-ready fails, and the workflow's
    // compensation releases with the provider's default (the lease set no action): pause, not delete.
    const lease2 = newLeaseId();
    const input2 = { provider: 'sealos-devbox', providerConfig: settings(), leaseId: lease2, slug: 'broken' };
    fake.failToStart.add(devboxName(lease2, 'broken'));
    const created = (await new MockActivityEnvironment().run(createBox, input2)) as CreateBoxResult;
    const err = await new MockActivityEnvironment().run(waitBoxReady, { ...input2, box: created.box }).catch((e: unknown) => e);
    seenErrors.push(err);
    expect(err).toMatchObject({ type: 'Provider.capacity', nonRetryable: true });
    const rel = await new MockActivityEnvironment().run(releaseBox, { ...input2, box: created.box, action: created.defaultReleaseAction });
    expect(rel).toMatchObject({ action: 'stop', alreadyGone: false, count: 1 });
    expect(fake.get(NS, created.box.resourceId)!.spec.state).toBe('Paused');
    // Without an identity (create never returned): found by its labels, and still only paused.
    const byMarker = await new MockActivityEnvironment().run(releaseBox, { ...input2, action: 'stop' as const });
    expect(byMarker).toMatchObject({ action: 'stop', count: 1 });
    expect(fake.get(NS, created.box.resourceId)!.spec.state).toBe('Paused');
    expect(created.box.resourceId).toBe(devboxName(lease2, 'broken'));
    expect(first.box.resourceId).toBe(name);
    await sealos().release(created.box, 'delete', ctx());
  });

  it('foreign DevBoxes (no labels, another lease, our lease id under another scope) are never found, listed as ours or touched', async () => {
    const mine = await newBox();
    const noLabels = fake.addForeign(NS, 'their-box', { app: 'x' });
    const otherLease = fake.addForeign(NS, 'other-lease', leaseLabels('dbx_0123456789ab', 'x', mine.scope));
    const otherScope = fake.addForeign(NS, 'same-lease-other-scope', leaseLabels(mine.leaseId, 'brave-otter', 'https://elsewhere#ctx/ns|NodePort@x'));
    const foreign = [noLabels, otherLease, otherScope];
    const before = foreign.map((d) => JSON.stringify(d));

    expect((await sealos().findByLease({ leaseId: mine.leaseId, slug: 'x' })).map((b) => b.resourceId)).toEqual([mine.resourceId]);
    const owned = (await sealos().listOwned()).map((o) => o.resourceId);
    expect(owned).not.toContain('their-box');
    for (const f of foreign) {
      for (const action of ['delete', 'stop'] as const) {
        const forged: BoxIdentity = { ...mine, resourceId: f.metadata.name, details: { ...mine.details, uid: f.metadata.uid } };
        expect((await errorOf(sealos().release(forged, action, ctx()))).kind).toBe('ownership');
      }
      expect((await errorOf(sealos().resume({ ...mine, resourceId: f.metadata.name }, ctx()))).kind).toBe('ownership');
    }
    // The same lease seen through another context (namespace) is another scope: refused.
    const e = await errorOf(sealos({ context: 'other-ctx' }).release(mine, 'delete', ctx()));
    expect(e.kind).toBe('ownership');
    expect(e.message).toContain('the kubeconfig now points at');
    expect(foreign.map((d) => JSON.stringify(fake.get(NS, d.metadata.name)))).toEqual(before);
    for (const f of foreign) expect(mutationsOf(f.metadata.name)).toEqual([]);
    await sealos().release(mine, 'delete', ctx());
    for (const f of foreign) fake.devboxes.delete(`${NS}/${f.metadata.name}`);
  });

  it('SSHGate: the configured gateway key is pinned (never first-use trust); a wrong key fails closed', async () => {
    const leaseId = newLeaseId();
    const port = await freePort();
    fake.portFor.set(devboxName(leaseId, 'gate'), port);
    const bogus = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    const gate = (hostKey: string) => sealos({ network: 'SSHGate', gatewayHost: '127.0.0.1', gatewayPort: port, gatewayHostKey: hostKey, sshTimeoutMs: 3_000 });
    const box = await newBox(gate(bogus), leaseId, 'gate');
    expect(fake.get(NS, box.resourceId)!.spec.network.type).toBe('SSHGate');
    const e = await errorOf(gate(bogus).waitReady(box, ctx()));
    expect(e.kind).toBe('ownership');
    const real = fake.hostKeyOf(box.details.uid as string);
    const t = await gate(real).waitReady(box, ctx());
    expect(t).toMatchObject({ host: '127.0.0.1', port, hostKeys: [real] });
    expect((await sshExec(t, 'echo gate')).stdout.trim()).toBe('gate');
    await gate(real).release(box, 'delete', ctx());
  });

  it('doctor: context, CRD served, RBAC from a rules review, image and route; read-only; missing verbs named', async () => {
    const from = fake.requests.length;
    const checks = await sealos().doctor();
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(checks.find((c) => c.name === 'context')!.detail).toBe(`context fake-ctx, server ${fake.url}, namespace ${NS}`);
    expect(checks.find((c) => c.name === 'crd')!.detail).toMatch(/devbox\.sealos\.io\/v1alpha2 serves devboxes/);
    const reqs = fake.requests.slice(from);
    expect(reqs.every((r) => r.method === 'GET' || r.url.startsWith('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews'))).toBe(true);
    const saved = fake.rules;
    fake.rules = [{ verbs: ['get', 'list'], apiGroups: ['devbox.sealos.io'], resources: ['devboxes'] }];
    try {
      const c2 = await sealos({ image: undefined }).doctor();
      expect(c2.find((c) => c.name === 'rbac')).toMatchObject({ ok: false });
      expect(c2.find((c) => c.name === 'rbac')!.detail).toContain('create devboxes.devbox.sealos.io, patch devboxes.devbox.sealos.io, delete devboxes.devbox.sealos.io, get secrets, list events');
      expect(c2.find((c) => c.name === 'image')!.ok).toBe(false);
      expect((await sealos({ network: 'SSHGate' }).doctor()).find((c) => c.name === 'route')!.detail).toMatch(/gatewayHost/);
    } finally {
      fake.rules = saved;
    }
    expect(JSON.stringify(checks)).not.toContain(fake.token);
  });

  it('bad input: clear one-line errors before any request (no image, no route, unknown context, unverified TLS, wrong token)', async () => {
    const from = fake.requests.length;
    const noImage = await errorOf(newBox(sealos({ image: undefined })));
    expect(noImage.message).toBe('no DevBox image: set sealos-devbox.image in your user config or pass --sealos-image');
    expect((await errorOf(newBox(sealos({ nodeHost: undefined })))).message).toMatch(/NodePort needs a node address/);
    const ctxErr = await errorOf(newBox(sealos({ context: 'nope' })));
    expect(ctxErr).toMatchObject({ kind: 'invalid' });
    expect(ctxErr.message).toMatch(/context "nope" is not in kubeconfig .* \(contexts: fake-ctx, other-ctx\)/);
    expect(fake.requests.length).toBe(from);

    const dir = mkdtempSync(join(tmpdir(), 'dbx-kc-'));
    try {
      const insecure = join(dir, 'insecure');
      writeFileSync(insecure, readFileSync(kubeconfig, 'utf8').replace(fake.url, 'https://k8s.example.invalid:6443'));
      const e = await errorOf(newBox(sealos({ kubeconfig: insecure })));
      expect(e.message).toMatch(/insecure-skip-tls-verify; durabox sends credentials only over verified TLS/);
      const wrong = fake.kubeconfig(join(dir, 'wrong'), NS, 'not-the-token-0123456789');
      const auth = await errorOf(newBox(sealos({ kubeconfig: wrong })));
      expect(auth).toMatchObject({ kind: 'auth', status: 401 });
      expect(auth.message).toContain('check the kubeconfig credentials');
      expect(auth.message).not.toContain('not-the-token-0123456789');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const bad of [{ cpu: 'lots' }, { network: 'Tailnet' }, { namespace: 'Bad_NS' }, { workRoot: '/home' }, { gatewayHostKey: 'yes' }, { extra: 1 }]) {
      expect(sealosConfigSchema().safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(sealosConfigSchema().parse({})).toMatchObject({ network: 'SSHGate', gatewayPort: 2222, cpu: '2', memory: '4Gi', storage: '20Gi', sshUser: 'devbox', releaseAction: 'stop', stopState: 'Paused' });
  });

  it('--sealos-* flags map to the section; repository config may not set cluster, route or image fields', () => {
    const layer = leaseConfigFlags({ provider: 'sealos-devbox', sealosImage: 'img:1', sealosContext: 'prod', sealosNamespace: 'team-a', sealosCpu: '4', sealosMemory: '8Gi', sealosNetwork: 'NodePort' });
    expect(layer['sealos-devbox']).toEqual({ image: 'img:1', context: 'prod', namespace: 'team-a', cpu: '4', memory: '8Gi', network: 'NodePort' });
    const repo = mkdtempSync(join(tmpdir(), 'dbx-sealos-repo-'));
    const env = { DURABOX_CONFIG: join(repo, 'no-user-config.yaml') };
    try {
      expect(loadConfig({ flags: layer, env, repoRoot: repo }).providerConfig).toMatchObject({ image: 'img:1', context: 'prod', network: 'NodePort' });
      for (const key of ['image', 'context', 'namespace', 'kubeconfig', 'gatewayHost', 'nodeHost', 'network', 'workRoot']) {
        writeFileSync(join(repo, 'durabox.yaml'), `sealos-devbox:\n  ${key}: x\n`);
        expect(() => loadConfig({ flags: { provider: 'sealos-devbox' }, env, repoRoot: repo }), key).toThrow(new RegExp(`sealos-devbox\\.${key} may not be set in repository config`));
      }
      writeFileSync(join(repo, 'durabox.yaml'), 'sealos-devbox:\n  memory: 6Gi\n');
      expect(loadConfig({ flags: { provider: 'sealos-devbox' }, env, repoRoot: repo }).providerConfig).toMatchObject({ memory: '6Gi' });
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe('sealos-devbox: after everything', () => {
  it('every request and object matched the CRD / Kubernetes schemas; the token never left the Authorization header; no key bytes or token in errors, logs, heartbeats, identities or ssh argv', () => {
    expect(fake.violations).toEqual([]);
    const authed = fake.requests.filter((r) => r.authorization === `Bearer ${fake.token}`);
    expect(authed.length).toBeGreaterThan(50);
    for (const r of fake.requests) {
      expect(r.url).not.toContain(fake.token);
      expect(JSON.stringify(r.body ?? null)).not.toContain(fake.token);
    }
    const privateKeys = [...fake.secrets.values()].map((s) => Buffer.from(s.data.SEALOS_DEVBOX_PRIVATE_KEY, 'base64').toString('utf8'));
    const keyBody = (pem: string) => pem.split('\n').slice(1, 3).join('');
    expect(seenErrors.length).toBeGreaterThan(10);
    const texts = [
      ...seenErrors.map((e) => `${(e as Error).message} ${JSON.stringify(e)} ${String((e as Error).stack)}`),
      ...contexts.map((c) => JSON.stringify({ beats: c.beats, logs: c.logs })),
      ...seenJson,
    ];
    for (const t of texts) {
      expect(t).not.toContain(fake.token);
      expect(t).not.toMatch(/PRIVATE KEY/);
      for (const k of privateKeys) expect(t).not.toContain(keyBody(k));
    }
  });
});
