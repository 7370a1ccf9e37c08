/**
 * The `codespaces` provider against a fake GitHub API (fake-github.ts: real HTTP on loopback,
 * requests and responses checked against the OpenAPI subset) and a fake `gh` (fake-gh.ts) whose
 * `codespace ssh --config` ProxyCommand bridges to real loopback sshd boxes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import { describeAdapterConformance } from '../../conformance/adapter-conformance.js';
import { FakeGitHub, type FakeRepo } from './fake-github.js';
import { tokenHash, writeFakeGh, type FakeGh } from './fake-gh.js';
import type { BoxIdentity, ProviderAdapter } from '../../../providers/adapter.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { sshOptions } from '../../../providers/common/ssh-options.js';
import { isProviderError, type ProviderError } from '../../../providers/errors.js';
import { getProvider } from '../../../providers/adapters.js';
import { codespacesConfigSchema, repoFromRemote } from '../../../providers/codespaces/config.js';
import { nextLink } from '../../../providers/codespaces/api.js';
import { parseSshConfig, pickBlock } from '../../../providers/codespaces/gh.js';
import { displayNameFor } from '../../../providers/codespaces/record.js';
import { leaseConfigFlags } from '../../../cli/commands/lease-flags.js';
import { loadConfig } from '../../../cli/config/load.js';

const stateDir = useTempStateDir();
const work = mkdtempSync(join(tmpdir(), 'dbx-cs-'));
const workspaces = join(work, 'workspaces');
const USER_ID = 5151;
const TOKEN = `ghp_${'A1b2C3d4'.repeat(5)}`;
const OTHER_TOKEN = `ghp_${'Z9y8X7w6'.repeat(5)}`;
const STORE_TOKEN = `gho_${'S1t2O3r4'.repeat(5)}`;
let fake: FakeGitHub;
let gh: FakeGh;
let repo: FakeRepo;
let otherRepo: FakeRepo;
const seenErrors: unknown[] = [];
const seenJson: string[] = [];

beforeAll(async () => {
  fake = await FakeGitHub.start(join(work, 'cs-state'));
  const identity = join(work, 'ghhome', 'codespaces.auto');
  mkdirSync(join(work, 'ghhome'), { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'codespaces.auto', '-f', identity]);
  fake.authorizedKey = readFileSync(`${identity}.pub`, 'utf8');
  gh = writeFakeGh(work, fake.stateDir, identity);
  process.env.PATH = `${gh.binDir}${delimiter}${process.env.PATH}`;
  fake.addUser(USER_ID, 'octo', TOKEN);
  fake.addUser(USER_ID, 'octo', STORE_TOKEN);
  fake.addUser(9090, 'mallory', OTHER_TOKEN);
  repo = fake.addRepo(301, 'octo/app', USER_ID);
  otherRepo = fake.addRepo(302, 'octo/other', USER_ID);
  mkdirSync(join(workspaces, 'app'), { recursive: true });
  fake.pageSize = 2; // force Link pagination
  process.env.GH_TOKEN = TOKEN;
  delete process.env.GITHUB_TOKEN;
});

afterAll(async () => {
  await fake?.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

const settings = (extra: Record<string, unknown> = {}) => ({
  apiUrl: fake.url,
  repo: 'octo/app',
  workspacesRoot: workspaces,
  pollIntervalMs: 20,
  createGraceMs: 300,
  readyTimeoutMs: 30_000,
  sshTimeoutMs: 30_000,
  ...extra,
});
const cs = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('codespaces', settings(extra));

async function newBox(adapter = cs(), leaseId = newLeaseId(), slug = 'brave-otter'): Promise<BoxIdentity> {
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

const ghCalls = (): Array<{ argv: string[]; tokenNames: string[]; tokenHashes: string[]; ghHost: string | null }> =>
  existsSync(gh.logFile) ? readFileSync(gh.logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

describeAdapterConformance('codespaces (fake GitHub API, fake gh, sshd codespaces)', () => cs());

describe('codespaces provider', () => {
  it('create sends the lease display name, checked machine, idle and retention; waitReady goes through gh with our own host-key policy', async () => {
    const box = await newBox(cs({ machine: 'standardLinux32gb', ref: 'main', geo: 'UsWest', idleTimeout: '45m', retentionPeriod: '2d' }));
    const live = fake.codespaces.get(box.resourceId)!;
    expect(live.display_name).toBe(displayNameFor(box.leaseId, 'brave-otter'));
    expect(live.display_name!.length).toBeLessThanOrEqual(48);
    expect(live.body).toEqual({ machine: 'standardLinux32gb', display_name: live.display_name, idle_timeout_minutes: 45, retention_period_minutes: 2880, ref: 'main', geo: 'UsWest' });
    expect(box.scope).toBe(`${fake.url}#${USER_ID}`);
    expect(box.details).toMatchObject({ name: live.name, codespaceId: live.id, environmentId: live.environment_id, ownerId: USER_ID, repositoryId: repo.id, repository: 'octo/app', displayName: live.display_name });
    const machinesCall = fake.requests.filter((r) => r.operation === 'codespaces/repo-machines-for-authenticated-user').at(-1)!;
    expect(machinesCall.url).toContain('ref=main');

    const ctx = testCtx();
    const target = await cs().waitReady(box, ctx);
    seenJson.push(JSON.stringify(target));
    expect(ctx.beats.some((b) => (b as { phase?: string }).phase === 'codespace-wait')).toBe(true);
    expect(target.proxyCommand).toEqual([gh.path, 'codespace', 'ssh', '-c', live.name, '--stdio', '--', '-i', join(work, 'ghhome', 'codespaces.auto')]);
    expect(target.proxyEnv).toEqual(['GH_TOKEN']);
    expect(target.hostKeyAlias).toBe(`durabox-${box.leaseId}`);
    expect(target.hostKeys).toHaveLength(1);
    const opts = sshOptions(target).join(' ');
    expect(opts).toContain('StrictHostKeyChecking=yes');
    expect(opts).not.toMatch(/StrictHostKeyChecking=no|\/dev\/null/);
    expect(opts).toContain(`UserKnownHostsFile=${join(stateDir, 'leases', box.leaseId, 'known_hosts')}`);
    expect((await sshExec(target, 'echo hi')).stdout.trim()).toBe('hi');
    await cs().release(box, 'delete', testCtx());
    expect(fake.codespaces.has(live.name)).toBe(false);
  });

  it('a dirty codespace (uncommitted, unpushed, ahead, or no git status) is stopped and kept, not deleted', async () => {
    const cases = [
      { has_uncommitted_changes: true, has_unpushed_changes: false, ahead: 0 },
      { has_uncommitted_changes: false, has_unpushed_changes: true, ahead: 0 },
      { has_uncommitted_changes: false, has_unpushed_changes: false, ahead: 2 },
      null,
    ];
    const expected = [/uncommitted changes/, /unpushed changes/, /2 commits ahead/, /no git status/];
    for (const [i, gs] of cases.entries()) {
      const box = await newBox();
      fake.codespaces.get(box.resourceId)!.git_status = gs;
      const res = await cs().release(box, 'delete', testCtx());
      expect(res.action).toBe('stop');
      expect(res.note).toMatch(expected[i]!);
      expect(res.note).toMatch(/not deleted/);
      expect(fake.codespaces.get(box.resourceId)!.state).toBe('Shutdown');
      expect(fake.mutations(box.resourceId).map((r) => r.method)).not.toContain('DELETE');
      expect(await cs().findByLease({ leaseId: box.leaseId, slug: 'x' })).toHaveLength(1);
      // Once the work is pushed, delete goes through.
      fake.codespaces.get(box.resourceId)!.git_status = { ahead: 0, behind: 0, has_uncommitted_changes: false, has_unpushed_changes: false, ref: 'main' };
      expect((await cs().release(box, 'delete', testCtx())).action).toBe('delete');
    }
  });

  it('ambiguous create (GitHub creates, then answers 502): recovered by the display name, no second POST', async () => {
    fake.fail('codespaces/create-with-repo-for-authenticated-user', { status: 502, apply: true, raw: '<html>bad gateway</html>' });
    const leaseId = newLeaseId();
    const posts = () => fake.requests.filter((r) => r.operation === 'codespaces/create-with-repo-for-authenticated-user').length;
    const before = posts();
    const ctx = testCtx();
    const k = await ensureLeaseKey(leaseId);
    const box = await cs().create({ leaseId, slug: 's', publicKey: k.publicKey, keyPath: k.keyPath }, ctx);
    expect(ctx.logs.join('\n')).toMatch(/may have succeeded/);
    expect(posts() - before).toBe(1);
    expect(fake.byDisplayName(displayNameFor(leaseId, 's')).map((c) => c.name)).toEqual([box.resourceId]);
    await cs().release(box, 'delete', testCtx());
  });

  it('ambiguous create while the list lags (transport drop): `ambiguous`; the retry adopts, still one codespace', async () => {
    fake.fail('codespaces/create-with-repo-for-authenticated-user', { status: 0, apply: true, drop: true });
    fake.listLagMs = 1_200;
    const leaseId = newLeaseId();
    try {
      const e = await errorOf(newBox(cs({ createGraceMs: 0 }), leaseId, 's'));
      expect(e.kind).toBe('ambiguous');
      await sleep(1_300);
    } finally {
      fake.listLagMs = 0;
    }
    const again = await newBox(cs(), leaseId, 's');
    expect(fake.byDisplayName(displayNameFor(leaseId, 's')).map((c) => c.name)).toEqual([again.resourceId]);
    await cs().release(again, 'delete', testCtx());
  });

  it('429 on create is ambiguous too; a 503 with Retry-After on a read is transient with the delay', async () => {
    fake.fail('codespaces/create-with-repo-for-authenticated-user', { status: 429, retryAfter: '30', body: { message: 'You have exceeded a secondary rate limit' } });
    const leaseId = newLeaseId();
    const e = await errorOf(newBox(cs({ createGraceMs: 0 }), leaseId));
    expect(e).toMatchObject({ kind: 'ambiguous', status: 429, retryAfterMs: 30_000 });
    expect(fake.byDisplayName(displayNameFor(leaseId, 'brave-otter'))).toHaveLength(0);
    fake.fail('codespaces/list-for-authenticated-user', { status: 503, retryAfter: '60', body: { code: 'unavailable', message: 'Service unavailable' } });
    const t = await errorOf(cs().findByLease({ leaseId, slug: 'x' }));
    expect(t).toMatchObject({ kind: 'transient', status: 503, retryAfterMs: 60_000 });
    expect(t.message).toMatch(/retry after 60 s/);
  });

  it('304 on start and stop counts as accepted', async () => {
    const box = await newBox();
    await cs().waitReady(box, testCtx());
    const name = box.resourceId;
    const calls = (verb: string) => fake.requests.filter((r) => r.path.endsWith(`/${name}/${verb}`)).length;
    // Already Available: resume makes no start call.
    expect((await sshExec(await cs().resume(box, testCtx()), 'true')).code).toBe(0);
    expect(calls('start')).toBe(0);
    // GitHub applies the stop and answers 304: still a stop, waited until Shutdown.
    fake.fail('codespaces/stop-for-authenticated-user', { status: 304, apply: true, raw: '' });
    expect(await cs().release(box, 'stop', testCtx())).toMatchObject({ action: 'stop', alreadyGone: false });
    expect(fake.codespaces.get(name)!.state).toBe('Shutdown');
    expect(calls('stop')).toBe(1);
    // Stopping a Shutdown codespace again makes no call.
    await cs().release(box, 'stop', testCtx());
    expect(calls('stop')).toBe(1);
    // Start answered with 304: accepted, resume waits for Available and reconnects with the same pin.
    fake.fail('codespaces/start-for-authenticated-user', { status: 304, apply: true, raw: '' });
    const t = await cs().resume(box, testCtx());
    expect(calls('start')).toBe(1);
    expect((await sshExec(t, 'true')).code).toBe(0);
    await cs().release(box, 'delete', testCtx());
  });

  it('foreign codespaces (no record: other display names, our name in another repo, another user) are never found or touched', async () => {
    const mine = await newBox();
    const display = fake.codespaces.get(mine.resourceId)!.display_name!;
    const plain = fake.addForeign(USER_ID, repo, 'my dev box');
    const elsewhere = fake.addForeign(USER_ID, otherRepo, display);
    const otherUser = fake.addForeign(9090, repo, display);
    const foreign = [plain, elsewhere, otherUser];
    expect((await cs().findByLease({ leaseId: mine.leaseId, slug: 'x' })).map((b) => b.resourceId)).toEqual([mine.resourceId]);
    for (const f of foreign) {
      for (const action of ['delete', 'stop'] as const) {
        const forged: BoxIdentity = { ...mine, resourceId: f.name, details: { ...mine.details, name: f.name } };
        const withIds: BoxIdentity = { ...forged, details: { ...forged.details, codespaceId: f.id, environmentId: f.environment_id } };
        for (const box of [forged, withIds]) {
          // Refused as not ours, or (another user's codespace, invisible to this token) verified absent: never mutated.
          const r = await cs().release(box, action, testCtx()).catch((e: unknown) => e);
          seenErrors.push(r);
          if (isProviderError(r)) expect(r.kind).toBe('ownership');
          else expect(r).toMatchObject({ alreadyGone: true });
        }
      }
      expect(fake.mutations(f.name)).toEqual([]);
    }
    // A record that lacks the ids is not ownership proof.
    const bare: BoxIdentity = { ...mine, details: { name: mine.resourceId } };
    expect((await errorOf(cs().release(bare, 'delete', testCtx()))).kind).toBe('ownership');
    // Another account's token: refused, nothing mutated.
    process.env.GH_TOKEN = OTHER_TOKEN;
    try {
      const e = await errorOf(cs().release(mine, 'delete', testCtx()));
      expect(e.kind).toBe('ownership');
    } finally {
      process.env.GH_TOKEN = TOKEN;
    }
    expect(fake.mutations(mine.resourceId)).toEqual([]);
    expect((await cs().listOwned()).map((o) => o.resourceId)).not.toContain(plain.name);
    for (const f of foreign) fake.codespaces.delete(f.name);
    await cs().release(mine, 'delete', testCtx());
  });

  it('machine preflight: an unavailable machine is a clear invalid error and nothing is created', async () => {
    const before = fake.codespaces.size;
    const e = await errorOf(newBox(cs({ machine: 'premiumLinux' })));
    expect(e.kind).toBe('invalid');
    expect(e.message).toContain('machine premiumLinux is not available for octo/app (available: basicLinux32gb, standardLinux32gb)');
    expect(fake.codespaces.size).toBe(before);
  });

  it('401 and a token without the codespace scope: auth errors with a hint, token redacted', async () => {
    process.env.GH_TOKEN = `ghp_${'bad0'.repeat(9)}`;
    try {
      const e = await errorOf(cs().findByLease({ leaseId: newLeaseId(), slug: 's' }));
      expect(e).toMatchObject({ kind: 'auth', status: 401 });
      expect(e.message).toContain('GH_TOKEN');
      expect(e.message).not.toContain('bad0bad0');
    } finally {
      process.env.GH_TOKEN = TOKEN;
    }
    const noScope = `ghp_${'N0sc0pe1'.repeat(5)}`;
    fake.addUser(USER_ID, 'octo', noScope, 'repo, read:org');
    process.env.GH_TOKEN = noScope;
    try {
      const e = await errorOf(cs().findByLease({ leaseId: newLeaseId(), slug: 's' }));
      expect(e.kind).toBe('auth');
      expect(e.message).toMatch(/lacks the codespace scope/);
      fake.fail('codespaces/list-for-authenticated-user', { status: 403, body: { message: 'Must have admin rights to Repository.' } });
      process.env.GH_TOKEN = TOKEN;
      const f = await errorOf(cs().findByLease({ leaseId: newLeaseId(), slug: 's' }));
      expect(f).toMatchObject({ kind: 'auth', status: 403 });
      expect(f.message).toMatch(/codespace` scope/);
    } finally {
      process.env.GH_TOKEN = TOKEN;
    }
  });

  it("without GH_TOKEN/GITHUB_TOKEN the token comes from gh's own store; gh children never carry a token they were not given", async () => {
    delete process.env.GH_TOKEN;
    writeFileSync(gh.storeFile, JSON.stringify({ token: STORE_TOKEN }));
    try {
      const box = await newBox();
      const t = await cs().waitReady(box, testCtx());
      expect(t.proxyEnv).toBeUndefined();
      expect((await sshExec(t, 'true')).code).toBe(0);
      await cs().release(box, 'delete', testCtx());
      expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${STORE_TOKEN}`);
    } finally {
      rmSync(gh.storeFile, { force: true });
      process.env.GH_TOKEN = TOKEN;
    }
    // GITHUB_TOKEN alone: gh children get exactly that one variable.
    delete process.env.GH_TOKEN;
    process.env.GITHUB_TOKEN = TOKEN;
    process.env.GH_ENTERPRISE_TOKEN = OTHER_TOKEN;
    const from = ghCalls().length;
    try {
      const box = await newBox();
      const t = await cs().waitReady(box, testCtx());
      expect(t.proxyEnv).toEqual(['GITHUB_TOKEN']);
      await cs().release(box, 'delete', testCtx());
    } finally {
      delete process.env.GITHUB_TOKEN;
      delete process.env.GH_ENTERPRISE_TOKEN;
      process.env.GH_TOKEN = TOKEN;
    }
    const calls = ghCalls().slice(from);
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls) {
      expect(c.tokenNames.filter((n) => /^(GH|GITHUB)_/.test(n)).length).toBeLessThanOrEqual(1);
      expect(c.tokenHashes).not.toContain(tokenHash(OTHER_TOKEN));
    }
  });

  it('doctor: gh, token source, account, scopes, machines, inventory; read-only', async () => {
    const from = fake.requests.length;
    const checks = await cs().doctor();
    const by = (n: string) => checks.find((c) => c.name === n)!;
    expect(by('gh')).toMatchObject({ ok: true });
    expect(by('token source').detail).toBe('GH_TOKEN is set');
    expect(by('account').detail).toContain('octo');
    expect(by('scopes')).toMatchObject({ ok: true });
    expect(by('machines').detail).toContain('basicLinux32gb');
    expect(by('codespaces').detail).toMatch(/\d+ total for octo/);
    expect(JSON.stringify(checks)).not.toContain(TOKEN);
    expect(fake.requests.slice(from).every((r) => r.method === 'GET')).toBe(true);
  });
});

describe('codespaces config and parsing', () => {
  const parse = (v: Record<string, unknown>) => codespacesConfigSchema().safeParse(v);

  it('apiUrl https or loopback http only; durations; retention 0 refused; repo shape', () => {
    expect(parse({ repo: 'a/b' }).data).toMatchObject({ apiUrl: 'https://api.github.com', idleTimeout: 30, retentionPeriod: 10_080, releaseAction: 'delete', workRoot: '/workspaces/.durabox' });
    for (const bad of ['http://api.github.com', 'https://u:p@api.github.com', 'https://api.github.com/?x=1', 'nope']) expect(parse({ apiUrl: bad }).success, bad).toBe(false);
    expect(parse({ retentionPeriod: 0 }).success).toBe(false);
    expect(parse({ idleTimeout: '4h' }).data?.idleTimeout).toBe(240);
    expect(parse({ idleTimeout: '5h' }).success).toBe(false);
    expect(parse({ repo: 'not a repo' }).success).toBe(false);
    expect(parse({ workRoot: '/workspaces/../etc' }).success).toBe(false);
    expect(repoFromRemote('git@github.com:octo/app.git')).toBe('octo/app');
    expect(repoFromRemote('https://github.com/octo/app')).toBe('octo/app');
    expect(repoFromRemote('https://gitlab.com/octo/app.git')).toBeUndefined();
  });

  it('repository config may not set apiUrl, ghPath, repo or the release policy; flags map to the section', () => {
    const layer = leaseConfigFlags({ provider: 'codespaces', repo: 'octo/app', codespacesMachine: 'basicLinux32gb' });
    expect(layer.codespaces).toEqual({ repo: 'octo/app', machine: 'basicLinux32gb' });
    const dir = mkdtempSync(join(tmpdir(), 'dbx-cs-repo-'));
    const env = { DURABOX_CONFIG: join(dir, 'no-user-config.yaml') };
    try {
      for (const line of ['apiUrl: https://evil.example', 'ghPath: /tmp/evil-gh', 'repo: evil/repo', 'releaseAction: delete']) {
        writeFileSync(join(dir, 'durabox.yaml'), `codespaces:\n  ${line}\n`);
        expect(() => loadConfig({ flags: layer, env, repoRoot: dir }), line).toThrow(/may not be set in repository config/);
      }
      writeFileSync(join(dir, 'durabox.yaml'), 'codespaces:\n  machine: standardLinux32gb\n');
      expect(loadConfig({ flags: { provider: 'codespaces', codespaces: { repo: 'octo/app' } }, env, repoRoot: dir }).providerConfig).toMatchObject({ machine: 'standardLinux32gb', repo: 'octo/app' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gh's ssh config: the user, identity and proxy are read; the trust options are never used; a proxy to another codespace is refused", () => {
    const text = 'Host cs.x-1.main\n\tUser node\n\tProxyCommand /usr/bin/gh cs ssh -c x-1 --stdio -- -i ~/.ssh/codespaces.auto\n\tUserKnownHostsFile=/dev/null\n\tStrictHostKeyChecking no\n\tIdentityFile ~/.ssh/codespaces.auto\n';
    const b = pickBlock(parseSshConfig(text), 'x-1');
    expect(b.user).toBe('node');
    expect(b.identityPath.endsWith('/.ssh/codespaces.auto')).toBe(true);
    expect(() => pickBlock(parseSshConfig(text.replace('-c x-1', '-c y-2')), 'x-1')).toThrow(/does not proxy/);
    expect(() => pickBlock(parseSshConfig(''), 'x-1')).toThrow(/no block/);
    expect(nextLink('<https://api.github.com/user/codespaces?page=2>; rel="next", <https://api.github.com/user/codespaces?page=3>; rel="last"')).toBe('https://api.github.com/user/codespaces?page=2');
  });
});

describe('codespaces: after everything', () => {
  it('every request and response matched the OpenAPI subset; the token was only ever in Authorization and gh env, never argv', () => {
    expect(fake.violations).toEqual([]);
    expect(fake.requests.some((r) => r.url.includes('page=2'))).toBe(true);
    for (const t of [TOKEN, STORE_TOKEN, OTHER_TOKEN]) {
      for (const r of fake.requests) {
        expect(r.url).not.toContain(t);
        expect(r.raw).not.toContain(t);
        for (const [k, v] of Object.entries(r.headers)) if (k !== 'authorization') expect(String(v)).not.toContain(t);
      }
      for (const c of ghCalls()) expect(JSON.stringify(c.argv)).not.toContain(t);
      for (const e of seenErrors) expect(`${(e as Error).message} ${JSON.stringify(e)} ${String((e as Error).stack)}`).not.toContain(t);
      for (const j of seenJson) expect(j).not.toContain(t);
    }
    const calls = ghCalls();
    expect(calls.some((c) => c.argv.includes('--config'))).toBe(true);
    expect(calls.some((c) => c.argv.includes('--stdio'))).toBe(true);
    // Proxy children that used an env token got exactly GH_TOKEN (or GITHUB_TOKEN), hashing to ours.
    for (const c of calls.filter((x) => x.tokenNames.length)) {
      expect(c.tokenNames.length).toBe(1);
      expect(c.tokenHashes[0]).toBe(tokenHash(TOKEN));
    }
    // Lease records on the worker hold no token.
    for (const f of execFileSync('find', [join(stateDir, 'leases'), '-name', 'codespaces.json'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      expect(readFileSync(f, 'utf8')).not.toContain(TOKEN);
    }
  });
});
