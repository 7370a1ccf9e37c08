/**
 * The `coder` provider against a fake Coder deployment (fake-coder.ts): real HTTP on loopback,
 * requests and responses checked against the Swagger subset, builds and agents that progress poll
 * by poll, and workspaces that are real local sshd boxes reached through a fake `coder` executable
 * (bin/coder, first on PATH) used as the SSH ProxyCommand.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import { describeAdapterConformance } from '../../conformance/adapter-conformance.js';
import { FakeCoder, type FakeUser } from './fake-coder.js';
import type { BoxIdentity, ProviderAdapter, SshTarget } from '../../../providers/adapter.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { sshArgv, sshEnv } from '../../../providers/common/ssh-options.js';
import { syncTree } from '../../../providers/common/sync.js';
import { isProviderError, type ProviderError } from '../../../providers/errors.js';
import { PresetsSchema } from '../../../providers/coder/schemas.js';
import { getProvider } from '../../../providers/adapters.js';
import { coderConfigSchema } from '../../../providers/coder/config.js';
import { leaseIdFromName, nameProblem, workspaceName } from '../../../providers/coder/naming.js';
import { createBox, releaseBox, waitBoxReady } from '../../../activities/lease.js';
import type { CreateBoxResult } from '../../../activities/types.js';
import { leaseConfigFlags } from '../../../cli/commands/lease-flags.js';
import { loadConfig } from '../../../cli/config/load.js';

const stateDir = useTempStateDir();
const workRoot = join(stateDir, 'work');
const BIN = join(dirname(fileURLToPath(import.meta.url)), 'bin');
const coderLog = join(stateDir, 'fake-coder.jsonl');
let fake: FakeCoder;
let alice: FakeUser;
let bob: FakeUser;
const seenErrors: unknown[] = [];
const seenJson: string[] = [];
/** Command lines of every process of ours that carried the token, sampled from /proc during the tests. */
const argvLeaks: string[] = [];
let sampler: NodeJS.Timeout | undefined;
const savedEnv = { PATH: process.env.PATH, CODER_URL: process.env.CODER_URL, CODER_SESSION_TOKEN: process.env.CODER_SESSION_TOKEN };

function sampleProcesses(token: string): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(token)) argvLeaks.push(cmd.replace(/\0/g, ' '));
    } catch {
      /* gone */
    }
  }
}

const PRESET_LARGE = '0b6f3a52-9a43-4d5e-8f0a-6d2f3c1b9e77';
const PRESET_SMALL = '5d1c2e90-4b7a-4c3e-9f1d-2a6b8c0e4f13';
const PRESET_A100 = '9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4';

beforeAll(async () => {
  fake = await FakeCoder.start({ stateDir, buildPolls: 1, agentPolls: 1 });
  alice = fake.addUser('alice');
  bob = fake.addUser('bob');
  fake.addTemplate(
    'docker',
    [
      { name: 'cpu', required: false, default_value: '2', type: 'number' },
      { name: 'region', required: false, default_value: 'eu', type: 'string' },
    ],
    [{ id: PRESET_LARGE, name: 'Large' }, { id: PRESET_SMALL, name: 'Small' }],
  );
  fake.addTemplate('strict', [{ name: 'image', required: true, default_value: '', type: 'string' }]);
  fake.addTemplate('gpu', [{ name: 'machine_type', required: true, default_value: '', type: 'string' }], [
    { id: PRESET_A100, name: 'A100', parameters: [{ name: 'machine_type', value: 'a100' }] },
  ]);
  process.env.PATH = `${BIN}:${process.env.PATH}`;
  process.env.CODER_URL = fake.url;
  process.env.CODER_SESSION_TOKEN = alice.token;
  process.env.FAKE_CODER_LOG = coderLog;
  // Other providers' credentials in the worker's environment must never reach the coder child.
  process.env.VAST_API_KEY = 'vast-secret-should-not-leak';
  process.env.GH_TOKEN = 'ghp_shouldnotleakshouldnotleak00000000';
  sampler = setInterval(() => {
    sampleProcesses(alice.token);
    sampleProcesses(bob.token);
  }, 40);
});

afterAll(async () => {
  if (sampler) clearInterval(sampler);
  await fake?.close();
  Object.assign(process.env, savedEnv);
  delete process.env.FAKE_CODER_LOG;
  delete process.env.VAST_API_KEY;
  delete process.env.GH_TOKEN;
  rmSync(stateDir, { recursive: true, force: true });
});

const settings = (extra: Record<string, unknown> = {}) => ({
  template: 'docker',
  user: userInfo().username, // the fake's agents are sshd processes of this user
  workRoot,
  pollIntervalMs: 20,
  createGraceMs: 300,
  readyTimeoutMs: 20_000,
  sshTimeoutMs: 20_000,
  buildTimeoutMs: 20_000,
  ...extra,
});
const coder = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('coder', settings(extra));

async function newBox(adapter = coder(), leaseId = newLeaseId(), slug = 'brave-otter'): Promise<BoxIdentity> {
  const k = await ensureLeaseKey(leaseId);
  const box = await adapter.create({ leaseId, slug, publicKey: k.publicKey, keyPath: k.keyPath }, testCtx());
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

const ws = (box: BoxIdentity) => fake.workspaces.get(box.resourceId)!;
const transitions = (box: BoxIdentity) => ws(box).builds.map((b) => b.transition);

describeAdapterConformance('coder (fake API, sshd agents via fake coder ssh --stdio)', () => coder());

describe('coder provider', () => {
  it('create: derived name, template, parameters, preset; waitReady pins through coder ssh --stdio; sync and run work through the ProxyCommand', async () => {
    const preset = PRESET_LARGE;
    const paramFile = join(stateDir, 'params.yaml');
    writeFileSync(paramFile, 'region: us\ncpu: 4\n');
    const adapter = coder({ parameters: ['cpu=8'], richParameterFile: paramFile, preset });
    const box = await newBox(adapter);
    const w = ws(box);
    expect(w.name).toBe(`dbx-brave-otter-${box.leaseId.slice(4)}`);
    expect(w.name.length).toBeLessThanOrEqual(32);
    expect(w.ownerId).toBe(alice.id);
    expect(w.template.name).toBe('docker');
    expect(w.presetId).toBe(preset);
    expect(Object.fromEntries(w.parameters.map((p) => [p.name, p.value]))).toEqual({ cpu: '8', region: 'us' });
    expect(box).toMatchObject({ provider: 'coder', resourceId: w.id, scope: `${fake.url}#${alice.id}` });
    expect(box.details).toMatchObject({ name: w.name, ownerId: alice.id, ownerName: 'alice', templateName: 'docker', url: fake.url });

    const ctx = testCtx();
    const target = await adapter.waitReady(box, ctx);
    seenJson.push(JSON.stringify(target));
    expect(ctx.beats.some((b) => (b as { phase?: string }).phase === 'coder-wait')).toBe(true);
    expect(target.proxyCommand).toEqual(['coder', 'ssh', '--stdio', '--wait', 'auto', `alice/${w.name}`]);
    expect(target.proxyEnv).toEqual(['CODER_URL', 'CODER_SESSION_TOKEN']);
    expect(target.hostKeys).toHaveLength(1);
    expect(readFileSync(`${w.box!.hostKey}.pub`, 'utf8')).toContain(target.hostKeys[0]!.split(' ')[1]);
    // The ssh options keep strict, per-lease host-key checking.
    const argv = sshArgv(target, 'true');
    expect(argv).toContain('StrictHostKeyChecking=yes');
    expect(argv.join(' ')).not.toMatch(/StrictHostKeyChecking=no|\/dev\/null/);
    expect(argv).toContain(`HostKeyAlias=durabox-${box.leaseId}`);

    expect((await sshExec(target, 'echo hi')).stdout.trim()).toBe('hi');
    const src = mkdtempSync(join(tmpdir(), 'dbx-coder-src-'));
    writeFileSync(join(src, 'hello.txt'), 'through coder ssh --stdio');
    const synced = await syncTree({ target, localRoot: src, leaseId: box.leaseId, repoName: 'repo' }, testCtx());
    expect((await sshExec(target, `cat '${synced.workdir}/hello.txt'`)).stdout).toBe('through coder ssh --stdio');
    rmSync(src, { recursive: true, force: true });
    await adapter.release(box, 'delete', testCtx());
    expect(fake.byName(w.name)).toBeUndefined();
    expect(transitions(box)).toEqual(['start', 'delete']);
  });

  it('failed acquire with the stop policy: agent never ready → rollback stops the workspace and never deletes it', async () => {
    const leaseId = newLeaseId();
    const input = { provider: 'coder', providerConfig: settings({ readyTimeoutMs: 400 }), leaseId, slug: 'stuck' };
    const created = (await new MockActivityEnvironment().run(createBox, input)) as CreateBoxResult;
    seenJson.push(JSON.stringify(created));
    expect(created.defaultReleaseAction).toBe('stop');
    const w = fake.workspaces.get(created.box.resourceId)!;
    w.agentNeverReady = true;
    const err = await new MockActivityEnvironment().run(waitBoxReady, { ...input, box: created.box }).catch((e: unknown) => e);
    seenErrors.push(err);
    expect(err).toMatchObject({ type: 'Provider.not-ready' });
    expect(String((err as Error).message)).toMatch(/not ready after 0 s \(build running\/start, agent connecting\/created\)/);
    // The workflow's compensation: releaseBox with the lease's action (none configured → the provider default, stop).
    const rel = await new MockActivityEnvironment().run(releaseBox, { ...input, box: created.box, action: created.defaultReleaseAction });
    seenJson.push(JSON.stringify(rel));
    expect(rel).toMatchObject({ action: 'stop', alreadyGone: false, count: 1 });
    expect(w.deleted).toBe(false);
    expect(w.builds.map((b) => [b.transition, b.status])).toEqual([
      ['start', 'running'],
      ['stop', 'stopped'],
    ]);
    expect(fake.requests.filter((r) => r.path.includes(w.id) && (r.body as { transition?: string } | undefined)?.transition === 'delete')).toEqual([]);
    // Without an identity (create never returned), rollback finds the workspace through the record and still only stops it.
    const again = await new MockActivityEnvironment().run(releaseBox, { ...input, action: 'stop' as const });
    expect(again).toMatchObject({ action: 'stop', count: 1 });
    expect(w.deleted).toBe(false);
    await coder().release(created.box, 'delete', testCtx());
  });

  it('a workspace with our name that this lease did not create is refused, never adopted or touched', async () => {
    const leaseId = newLeaseId();
    const name = workspaceName('dbx', leaseId, 'brave-otter');
    const foreign = fake.addForeignWorkspace(alice, name);
    const before = JSON.stringify({ builds: foreign.builds, deleted: foreign.deleted, name: foreign.name });
    const from = fake.requests.length;
    const e = await errorOf(newBox(coder(), leaseId));
    expect(e.kind).toBe('conflict');
    expect(e.message).toContain(`a workspace named ${name}`);
    expect(e.message).toContain('refusing to adopt it');
    expect(await coder().findByLease({ leaseId, slug: 'brave-otter' })).toEqual([]);
    // Through the activities: createBox fails non-retryably; a rollback without identity finds nothing to release.
    const input = { provider: 'coder', providerConfig: settings(), leaseId, slug: 'brave-otter' };
    const err = await new MockActivityEnvironment().run(createBox, input).catch((x: unknown) => x);
    expect(err).toMatchObject({ type: 'Provider.conflict', nonRetryable: true });
    expect(await new MockActivityEnvironment().run(releaseBox, { ...input, action: 'delete' as const })).toMatchObject({ count: 0 });
    // A forged identity naming it is refused too.
    const forged: BoxIdentity = { provider: 'coder', leaseId, resourceId: foreign.id, scope: `${fake.url}#${alice.id}`, details: { name, ownerId: bob.id, ownerName: 'bob' } };
    expect((await errorOf(coder().release(forged, 'delete', testCtx()))).kind).toBe('ownership');
    expect(JSON.stringify({ builds: foreign.builds, deleted: foreign.deleted, name: foreign.name })).toBe(before);
    expect(fake.requests.slice(from).filter((r) => r.method === 'POST' && r.path.includes(foreign.id))).toEqual([]);
    expect(fake.requests.slice(from).filter((r) => r.operation === 'create-user-workspace')).toEqual([]);
    fake.workspaces.delete(foreign.id);
  });

  it('ambiguous create (Coder creates, then answers 502): the name lookup adopts it, no duplicate; a lagging inventory is ambiguous until the retry adopts', async () => {
    fake.fail('create-user-workspace', { status: 502, apply: true, raw: '<html>bad gateway</html>' });
    const leaseId = newLeaseId();
    const ctx = testCtx();
    const k = await ensureLeaseKey(leaseId);
    const box = await coder().create({ leaseId, slug: 's', publicKey: k.publicKey, keyPath: k.keyPath }, ctx);
    expect(ctx.logs.join('\n')).toMatch(/may have succeeded/);
    expect(fake.live(alice.id).filter((w) => w.name === box.details.name)).toHaveLength(1);

    fake.fail('create-user-workspace', { status: 500, apply: true });
    fake.listLagMs = 1_000;
    const lagLease = newLeaseId();
    try {
      const e = await errorOf(newBox(coder({ createGraceMs: 0 }), lagLease));
      expect(e).toMatchObject({ kind: 'ambiguous', status: 500 });
      await new Promise((r) => setTimeout(r, 1_100));
    } finally {
      fake.listLagMs = 0;
    }
    const found = await coder().findByLease({ leaseId: lagLease, slug: 's' });
    expect(found).toHaveLength(1);
    const retried = await newBox(coder(), lagLease);
    expect(retried.resourceId).toBe(found[0]!.resourceId);
    expect(fake.requests.filter((r) => r.operation === 'create-user-workspace' && (r.body as { name: string }).name === found[0]!.details.name)).toHaveLength(1);
    for (const b of [box, retried]) await coder().release(b, 'delete', testCtx());
  });

  it('not-found counts as released only after a fresh listing agrees', async () => {
    const box = await newBox();
    fake.fail('get-workspace-metadata-by-id', { status: 404, body: { message: 'Resource not found or you do not have access to this resource' } });
    const e = await errorOf(coder().release(box, 'delete', testCtx()));
    expect(e.kind).toBe('transient');
    expect(e.message).toMatch(/still lists it/);
    expect(ws(box).deleted).toBe(false);
    expect(transitions(box)).toEqual(['start']);
    await coder().release(box, 'delete', testCtx());
    expect(await coder().release(box, 'delete', testCtx())).toMatchObject({ alreadyGone: true });
    expect(await coder().release(box, 'stop', testCtx())).toMatchObject({ alreadyGone: true });
  });

  it('resume after template autostop starts the workspace, waits for the new agent and re-pins its new host key; a changed key without a new build fails closed', async () => {
    const box = await newBox();
    const first = await coder().waitReady(box, testCtx());
    fake.autostop(ws(box));
    fake.rotateHostKeys = true;
    try {
      const ctx = testCtx();
      const resumed = await coder().resume(box, ctx);
      expect(ctx.logs.join('\n')).toMatch(/new build\/agent; pinning its new host key/);
      expect(resumed.hostKeys).not.toEqual(first.hostKeys);
      expect(transitions(box)).toEqual(['start', 'stop', 'start']);
      expect((await sshExec(resumed, 'echo back')).stdout.trim()).toBe('back');
      // Same build and agent, different key: someone else answers. Never trusted.
      await fake.rekeyWithoutBuild(ws(box));
      const e = await errorOf(coder().waitReady(box, testCtx()));
      expect(e.kind).toBe('ownership');
      expect(e.message).toMatch(/host key .* changed/);
    } finally {
      fake.rotateHostKeys = false;
    }
    await coder().release(box, 'delete', testCtx());
  });

  it('start failures: a failed build and a start_error agent fail clearly instead of waiting out the limit', async () => {
    const a = await newBox();
    ws(a).failStart = 'terraform apply: quota exceeded';
    ws(a).builds.at(-1)!.polls = 5; // not started yet when the knob is set
    const e = await errorOf(coder().waitReady(a, testCtx()));
    expect(e).toMatchObject({ kind: 'invalid' });
    expect(e.message).toMatch(/start build of workspace .* failed: terraform apply: quota exceeded/);
    const b = await newBox();
    ws(b).startError = true;
    const e2 = await errorOf(coder().waitReady(b, testCtx()));
    expect(e2.message).toMatch(/lifecycle start_error/);
    for (const x of [a, b]) await coder().release(x, 'delete', testCtx());
  });

  it('parameters are checked against the template before anything is created; bad input is one clear line', async () => {
    const from = fake.requests.length;
    const missing = await errorOf(newBox(coder({ template: 'strict' })));
    expect(missing.kind).toBe('invalid');
    expect(missing.message).toBe('missing template parameter image: pass --coder-param name=value');
    const unknown = await errorOf(newBox(coder({ parameters: ['gpu=1'] })));
    expect(unknown.message).toMatch(/the template has no parameter gpu \(it has: cpu, region\)/);
    const noTemplate = await errorOf(newBox(coder({ template: 'nope' })));
    expect(noTemplate.message).toMatch(/no Coder template named "nope".*known: docker, strict/);
    const unset = await errorOf(newBox(getProvider('coder', { ...settings(), template: undefined })));
    expect(unset.message).toMatch(/coder.template is required/);
    const noPreset = await errorOf(newBox(coder({ preset: 'Huge' })));
    expect(noPreset.kind).toBe('invalid');
    expect(noPreset.message).toBe('the template version has no preset "Huge" (it has: Large, Small)');
    const otherTemplatesPreset = await errorOf(newBox(coder({ template: 'strict', parameters: { image: 'x' }, preset: PRESET_SMALL })));
    expect(otherTemplatesPreset.message).toMatch(/no preset "5d1c2e90-.*" \(it has: none\)/);
    expect(fake.requests.slice(from).filter((r) => r.method === 'POST')).toEqual([]);
    // A preset that sets a parameter the user also sets: Coder would keep the preset's silently.
    const clash = await errorOf(newBox(coder({ template: 'gpu', preset: 'A100', parameters: ['machine_type=h100'] })));
    expect(clash.message).toBe('preset "A100" sets machine_type; Coder would ignore the value given here, so drop it or choose another preset');
    expect(fake.requests.slice(from).filter((r) => r.method === 'POST')).toEqual([]);
    // A preset by name is looked up in the template version and sent by id, with that version's id.
    const small = await newBox(coder({ preset: 'Small' }));
    expect(ws(small).presetId).toBe(PRESET_SMALL);
    const post = fake.requests.filter((r) => r.method === 'POST' && r.operation === 'create-user-workspace').at(-1)!;
    expect(post.body).toMatchObject({ template_version_id: ws(small).template.active_version_id, template_version_preset_id: PRESET_SMALL });
    expect(post.body).not.toHaveProperty('template_id');
    await coder().release(small, 'delete', testCtx());
    // The preset supplies the required parameter; an id in upper case is the same id.
    // (Giving the preset's own value again is no clash.)
    const gpu = await newBox(coder({ template: 'gpu', preset: PRESET_A100.toUpperCase(), parameters: ['machine_type=a100'] }));
    expect(ws(gpu).presetId).toBe(PRESET_A100);
    expect(ws(gpu).parameters).toEqual([{ name: 'machine_type', value: 'a100' }]);
    await coder().release(gpu, 'delete', testCtx());
    const ok = await newBox(coder({ template: 'strict', parameters: { image: 'ubuntu:24.04' } }));
    expect(ws(ok).parameters).toEqual([{ name: 'image', value: 'ubuntu:24.04' }]);
    await coder().release(ok, 'delete', testCtx());
  });

  it('another user\'s token: the recorded scope no longer matches, nothing is touched; a bad token is auth', async () => {
    const box = await newBox();
    process.env.CODER_SESSION_TOKEN = bob.token;
    try {
      const e = await errorOf(coder().release(box, 'delete', testCtx()));
      expect(e.kind).toBe('ownership');
      expect(e.message).toContain(`#${alice.id}`);
      expect(await coder().findByLease({ leaseId: box.leaseId, slug: 'x' })).toEqual([]);
      process.env.CODER_SESSION_TOKEN = 'AAAAAAAAAA-BBBBBBBBBBBBBBBBBBBBBB';
      const bad = await errorOf(coder().findByLease({ leaseId: box.leaseId, slug: 'x' }));
      expect(bad).toMatchObject({ kind: 'auth', status: 401 });
      expect(bad.message).not.toContain('AAAAAAAAAA-BBBBBBBBBBBBBBBBBBBBBB');
      delete process.env.CODER_SESSION_TOKEN;
      expect((await errorOf(coder().findByLease({ leaseId: box.leaseId, slug: 'x' }))).message).toMatch(/set CODER_SESSION_TOKEN/);
    } finally {
      process.env.CODER_SESSION_TOKEN = alice.token;
    }
    expect(ws(box).deleted).toBe(false);
    await coder().release(box, 'delete', testCtx());
  });

  it('listOwned maps names back to leases; doctor is read-only and names the token by variable only', async () => {
    const box = await newBox();
    const foreign = fake.addForeignWorkspace(alice, 'my-dev-box');
    const owned = await coder().listOwned();
    expect(owned.find((o) => o.resourceId === box.resourceId)?.leaseId).toBe(box.leaseId);
    expect(owned.map((o) => o.resourceId)).not.toContain(foreign.id);
    const from = fake.requests.length;
    const checks = await coder().doctor();
    expect(checks.find((c) => c.name === 'coder cli')).toMatchObject({ ok: true });
    expect(checks.find((c) => c.name === 'session token')).toMatchObject({ ok: true, detail: 'CODER_SESSION_TOKEN is set' });
    expect(checks.find((c) => c.name === 'logged in')!.detail).toContain('alice');
    expect(checks.find((c) => c.name === 'template')).toMatchObject({ ok: true });
    expect(checks.find((c) => c.name === 'workspaces')!.detail).toMatch(/\d+ owned by alice, \d+ named dbx-…-<lease>/);
    expect(JSON.stringify(checks)).not.toContain(alice.token);
    expect(fake.requests.slice(from).every((r) => r.method === 'GET')).toBe(true);
    fake.workspaces.delete(foreign.id);
    await coder().release(box, 'delete', testCtx());
  });
});

describe('coder config, naming and flags', () => {
  const parse = (v: Record<string, unknown>) => coderConfigSchema().safeParse(v);

  it('url: https, or http only on loopback; workRoot refuses broad roots; parameters parse name=value', () => {
    expect(parse({ url: 'https://coder.example.com/api/v2/' }).data?.url).toBe('https://coder.example.com');
    expect(parse({ url: 'http://127.0.0.1:3000' }).success).toBe(true);
    for (const bad of ['http://coder.example.com', 'https://u:p@coder.example.com', 'https://coder.example.com/?token=x', 'nope']) {
      expect(parse({ url: bad }).success, bad).toBe(false);
    }
    for (const root of ['/', '/home', '/tmp', '/usr', '/usr/local', '/home/coder', 'relative', '/a/../b']) {
      expect(parse({ workRoot: root }).success, root).toBe(false);
    }
    expect(parse({}).data).toMatchObject({ workRoot: '/home/coder/durabox', workspacePrefix: 'dbx', user: 'coder', parameters: {} });
    expect(parse({ parameters: ['a=1', 'b=x=y', 'c='] }).data?.parameters).toEqual({ a: '1', b: 'x=y', c: '' });
    const bad = parse({ parameters: ['novalue'] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('parameter "novalue" must be name=value');
    expect(parse({ workspacePrefix: 'Dbx' }).success).toBe(false);
    expect(parse({ preset: 'Large' }).success).toBe(true);
    // Presets as documented (id, name) and as older servers send them (ID, Name).
    expect(
      PresetsSchema.parse([
        { id: PRESET_LARGE, name: 'Large', default: true, parameters: [{ name: 'cpu', value: '16' }] },
        { ID: PRESET_SMALL, Name: 'Small', Parameters: [{ Name: 'cpu', Value: '1' }] },
        { ID: PRESET_A100, Name: 'Bare', Parameters: null },
      ]),
    ).toEqual([
      { id: PRESET_LARGE, name: 'Large', parameters: [{ name: 'cpu', value: '16' }] },
      { id: PRESET_SMALL, name: 'Small', parameters: [{ name: 'cpu', value: '1' }] },
      { id: PRESET_A100, name: 'Bare', parameters: [] },
    ]);
    expect(parse({ preset: '' }).success).toBe(false);
    expect(parse({ preset: 'two\nlines' }).success).toBe(false);
  });

  it('workspace names follow Coder rules and map back to the lease', () => {
    const id = 'dbx_0123456789ab';
    expect(workspaceName('dbx', id, 'Brave Otter!')).toBe('dbx-brave-otter-0123456789ab');
    const long = workspaceName('durabox', id, 'a-very-long-slug-that-does-not-fit-at-all');
    expect(long.length).toBeLessThanOrEqual(32);
    expect(nameProblem(long)).toBeUndefined();
    expect(leaseIdFromName('durabox', long)).toBe(id);
    expect(workspaceName('dbx', id, '---')).toBe('dbx-0123456789ab');
    expect(leaseIdFromName('dbx', 'my-dev-box')).toBeUndefined();
    for (const n of ['new', 'create', 'UPPER', 'a--b', '-a', 'x'.repeat(33)]) expect(nameProblem(n), n).toBeDefined();
    // Other lease id shapes: hashed, found through the record only.
    expect(workspaceName('dbx', 'lease-xyz', 's')).toMatch(/^dbx-s-[0-9a-f]{12}$/);
  });

  it('--coder-template/--coder-preset/--coder-param map to the coder section; repository config may not set url, cliPath or richParameterFile', () => {
    const layer = leaseConfigFlags({ provider: 'coder', coderTemplate: 'docker', coderPreset: '0b6f3a52-9a43-4d5e-8f0a-6d2f3c1b9e77', coderParam: ['cpu=4', 'region=eu'] });
    expect(layer.coder).toEqual({ template: 'docker', preset: '0b6f3a52-9a43-4d5e-8f0a-6d2f3c1b9e77', parameters: ['cpu=4', 'region=eu'] });
    const repo = mkdtempSync(join(tmpdir(), 'dbx-coder-repo-'));
    const env = { DURABOX_CONFIG: join(repo, 'no-user-config.yaml') };
    try {
      expect(loadConfig({ flags: layer, env, repoRoot: repo }).providerConfig).toMatchObject({ template: 'docker', parameters: { cpu: '4', region: 'eu' } });
      for (const key of ['url: https://evil.example', 'cliPath: /tmp/evil', 'richParameterFile: /etc/shadow']) {
        writeFileSync(join(repo, 'durabox.yaml'), `coder:\n  ${key}\n`);
        expect(() => loadConfig({ flags: layer, env, repoRoot: repo })).toThrow(/may not be set in repository config/);
      }
      writeFileSync(join(repo, 'durabox.yaml'), 'coder:\n  template: python\n');
      expect(loadConfig({ flags: { provider: 'coder' }, env, repoRoot: repo }).providerConfig).toMatchObject({ template: 'python' });
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe('coder: after everything', () => {
  it('requests and responses matched the Swagger subset; the token travelled only in the Coder-Session-Token header and the coder child\'s environment, never in argv, history or logs', () => {
    expect(fake.violations).toEqual([]);
    const tokens = [alice.token, bob.token];
    for (const r of fake.requests) {
      for (const t of tokens) {
        expect(r.url).not.toContain(t);
        expect(r.raw).not.toContain(t);
        for (const [h, v] of Object.entries(r.headers)) if (h !== 'coder-session-token') expect(String(v)).not.toContain(t);
      }
    }
    expect(fake.requests.filter((r) => r.token === alice.token).length).toBeGreaterThan(50);

    // The fake coder CLI ran as the ProxyCommand, got the token through its environment only.
    const runs = readFileSync(coderLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; envNames: string[]; tokenSha: string | null; url: string });
    const sshRuns = runs.filter((r) => r.argv[0] === 'ssh');
    expect(sshRuns.length).toBeGreaterThan(5);
    const sha = createHash('sha256').update(alice.token).digest('hex');
    for (const r of sshRuns) {
      expect(r.tokenSha).toBe(sha);
      expect(r.url).toBe(fake.url);
      for (const t of tokens) expect(r.argv.join(' ')).not.toContain(t);
      expect(r.envNames).not.toContain('VAST_API_KEY');
      expect(r.envNames).not.toContain('GH_TOKEN');
      expect(r.envNames.filter((n) => /TOKEN|SECRET|API_KEY|PASSWORD|SESSION/i.test(n))).toEqual(['CODER_SESSION_TOKEN']);
    }
    // `coder version` (doctor) is not a ProxyCommand: it gets no token at all.
    for (const r of runs.filter((x) => x.argv[0] === 'version')) expect(r.tokenSha).toBeNull();
    // No process of ours ever had a token on its command line (sampled from /proc throughout).
    expect(argvLeaks).toEqual([]);
    // ssh/rsync argv hold no token; only ssh/rsync for a ProxyCommand target get it in their environment.
    const target: SshTarget = { user: 'u', host: 'h.coder', port: 22, keyPath: '/k', hostKeyAlias: 'durabox-dbx_000000000000', hostKeys: [], proxyCommand: ['coder', 'ssh', '--stdio', 'a/h'], proxyEnv: ['CODER_URL', 'CODER_SESSION_TOKEN'], workRoot: '/w' };
    expect(sshArgv(target, 'true', { hostKeyPolicy: 'accept-new', multiplex: false }).join(' ')).not.toContain(alice.token);
    expect(sshEnv(target).CODER_SESSION_TOKEN).toBe(alice.token);
    expect(sshEnv({ ...target, proxyCommand: undefined, proxyEnv: undefined }).CODER_SESSION_TOKEN).toBeUndefined();
    expect(sshEnv(target).VAST_API_KEY).toBeUndefined();

    // Errors, identities, targets and activity results (what reaches workflow history) carry no token.
    expect(seenErrors.length).toBeGreaterThan(10);
    for (const e of seenErrors) {
      const text = `${(e as Error).message} ${JSON.stringify(e)} ${String((e as Error).stack)}`;
      for (const t of tokens) expect(text).not.toContain(t);
    }
    for (const j of seenJson) for (const t of tokens) expect(j).not.toContain(t);
    // Lease records on the worker hold no token either.
    const leases = join(stateDir, 'leases');
    mkdirSync(leases, { recursive: true });
    for (const d of readdirSync(leases)) {
      for (const f of ['coder.json', 'known_hosts']) {
        const p = join(leases, d, f);
        if (existsSync(p)) for (const t of tokens) expect(readFileSync(p, 'utf8')).not.toContain(t);
      }
    }
  });
});
