/**
 * The `agx` provider against a fake workspace gateway (test/support/fake-agx-gateway.ts): an
 * in-process ssh2 server that routes `<user>+<instance>` logins to per-instance sandbox directories
 * and presents one fixed host key.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from './helpers.js';
import { describeAdapterConformance } from '../conformance/adapter-conformance.js';
import { FakeAgxGateway, newGatewayHostKey } from '../support/fake-agx-gateway.js';
import type { BoxIdentity, ProviderAdapter, SshTarget } from '../../providers/adapter.js';
import { fingerprint, gatewayKeysFile } from '../../providers/agx/gateway-pin.js';
import { instanceName } from '../../providers/agx/instance.js';
import { sshExec } from '../../providers/common/remote.js';
import { followStream, readExit, remoteRunDir, startOrAttach } from '../../providers/common/remote-run.js';
import { syncTree } from '../../providers/common/sync.js';
import { isProviderError, type ProviderError } from '../../providers/errors.js';
import { getProvider } from '../../providers/adapters.js';
import { leaseConfigFlags } from '../../cli/commands/lease-flags.js';
import { loadConfig } from '../../cli/config/load.js';

const stateDir = useTempStateDir();
const tmp = mkdtempSync(join(tmpdir(), 'dbx-agx-'));
const keyPath = join(tmp, 'id_ed25519');
const noKnownHosts = join(tmp, 'known_hosts.absent');
const hostA = newGatewayHostKey();
const hostB = newGatewayHostKey();
const gateways: FakeAgxGateway[] = [];
let gwA: FakeAgxGateway;
let userPub: string;

async function gateway(hostPrivateKey: string, extra: { port?: number; provisioningDrops?: number } = {}): Promise<FakeAgxGateway> {
  const gw = await FakeAgxGateway.start({ hostPrivateKey, authorizedKey: userPub, vmUser: 'dev', root: join(tmp, 'sandboxes'), ...extra });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'agx-operator', '-f', keyPath]);
  userPub = readFileSync(`${keyPath}.pub`, 'utf8').trim();
  gwA = await gateway(hostA.privateKey);
});

afterAll(async () => {
  for (const gw of gateways) await gw.close().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

const settings = (extra: Record<string, unknown> = {}) => ({
  gateway: '127.0.0.1',
  port: gwA.port,
  user: 'dev',
  keyPath,
  knownHostsFile: noKnownHosts, // never the developer's own ~/.ssh/known_hosts
  hostKey: hostA.publicKey,
  readyTimeoutMs: 20_000,
  ...extra,
});
const agx = (extra: Record<string, unknown> = {}): ProviderAdapter => getProvider('agx', settings(extra));

async function lease(adapter: ProviderAdapter, slug = 'agx-box'): Promise<BoxIdentity> {
  // The per-lease key in CreateRequest is unused by AGX (only the registered key is accepted).
  return adapter.create({ leaseId: newLeaseId(), slug, publicKey: 'unused', keyPath: '/nonexistent' }, testCtx());
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!isProviderError(e)) throw new Error(`expected a ProviderError, got ${String(e)}`);
  return e;
}

describe('agx: settings are validated before any connection', () => {
  const bad = (extra: Record<string, unknown>) => () => getProvider('agx', settings(extra));

  it('refuses gateways that are not bare hostnames', () => {
    for (const [gatewayValue, why] of [
      ['https://workspace.agx.so', /scheme/],
      ['ssh://workspace.agx.so', /scheme/],
      ['workspace.agx.so:2222', /port/],
      ['workspace.agx.so/path', /path/],
      ['me@workspace.agx.so', /user info/],
      ['work space.agx.so', /whitespace/],
      ['-oProxyCommand=evil', /starts with "-"/],
      ['', /empty/],
      ['bad_host!', /not a hostname/],
    ] as const) {
      expect(bad({ gateway: gatewayValue }), gatewayValue).toThrow(why);
      try {
        bad({ gateway: gatewayValue })();
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
        expect((e as Error).message).toMatch(/^agx settings: gateway: gateway /);
      }
    }
    expect(() => getProvider('agx', settings({ gateway: 'workspace.agx.so' }))).not.toThrow();
  });

  it('refuses vm users outside letters, digits, ".", "_", "-" (and a leading dash)', () => {
    for (const user of ['a+b', 'a@b', '-x', 'a b', 'ü', '', 'x'.repeat(65)]) expect(bad({ user }), user).toThrow(/agx settings: user: user /);
    for (const user of ['dev', 'first.last', 'a_b-c', '0day']) expect(bad({ user }), user).not.toThrow();
  });

  it('refuses relative work roots and broad system directories', () => {
    for (const workRoot of ['relative', '/', '/home', '/home/', '/tmp', '/usr', '/etc', '/var', '/root', '/usr/local', '/home/dev/../../etc', '//tmp//']) {
      expect(bad({ workRoot }), workRoot).toThrow(/agx settings: workRoot: workRoot /);
    }
    expect(bad({ workRoot: '/home/dev/work' })).not.toThrow();
  });

  it('refuses a malformed host key pin and accepts `type base64` or SHA256 fingerprints', () => {
    expect(bad({ hostKey: 'not a key' })).toThrow(/hostKey/);
    expect(bad({ hostKey: fingerprint(hostA.publicKey) })).not.toThrow();
  });

  it('maps --agx-* flags onto the agx section, validated by the same schema (one-line errors)', () => {
    const env = { DURABOX_CONFIG: join(tmp, 'no-config.yaml') };
    const flags = leaseConfigFlags({ provider: 'agx', agxGateway: 'gw.example', agxUser: 'dev', agxKey: keyPath, agxHostKey: hostA.publicKey });
    expect(flags.agx).toEqual({ gateway: 'gw.example', user: 'dev', keyPath, hostKey: hostA.publicKey });
    const loaded = loadConfig({ env, flags });
    expect(loaded.providerConfig).toMatchObject({ gateway: 'gw.example', user: 'dev', keyPath, hostKey: hostA.publicKey, port: 22 });
    const e = (() => {
      try {
        loadConfig({ env, flags: leaseConfigFlags({ provider: 'agx', agxGateway: 'https://gw.example' }) });
      } catch (err) {
        return err as Error;
      }
    })();
    expect(e?.message).toMatch(/gateway.*scheme/);
    expect(e?.message).not.toContain('\n');
  });

  it('repository config may not choose the gateway, user, key or pin', () => {
    const repo = join(tmp, 'repo-trust');
    mkdirSync(repo, { recursive: true });
    writeFileSync(join(repo, 'durabox.yaml'), 'provider: agx\nagx:\n  gateway: attacker.example\n');
    expect(() => loadConfig({ env: { DURABOX_CONFIG: join(tmp, 'no-config.yaml') }, repoRoot: repo })).toThrow(/agx\.gateway may not be set in repository config/);
  });
});

describe('agx: instance names', () => {
  it('derive from the lease: stable per lease and slug, distinct across leases, short [a-z0-9-]', async () => {
    const id = newLeaseId();
    expect(instanceName('dbx', id, 'brave-otter')).toBe(instanceName('dbx', id, 'brave-otter'));
    expect(instanceName('dbx', id, 'brave-otter')).toMatch(/^dbx-brave-otter-[0-9a-f]{8}$/);
    expect(instanceName('dbx', newLeaseId(), 'brave-otter')).not.toBe(instanceName('dbx', id, 'brave-otter'));
    const odd = instanceName('dbx', id, '  Très__Weird/Slug!! with a very long tail that goes on ');
    expect(odd).toMatch(/^[a-z0-9-]+$/);
    expect(odd.length).toBeLessThanOrEqual(38);
    expect(odd).not.toMatch(/--/);
    expect(instanceName('dbx', id, '!!!')).toMatch(/^dbx-[0-9a-f]{8}$/);

    const adapter = agx();
    const leaseId = newLeaseId();
    const req = { leaseId, slug: 'brave-otter', publicKey: 'unused', keyPath: '/nonexistent' };
    const a = await adapter.create(req, testCtx());
    const b = await adapter.create(req, testCtx());
    expect(a.resourceId).toBe(instanceName('dbx', leaseId, 'brave-otter'));
    expect(b).toEqual(a);
    expect(a.details).toMatchObject({ login: `dev+${a.resourceId}`, gateway: '127.0.0.1', port: gwA.port });
    await adapter.release(a, 'keep', testCtx());
  });

  it('the same lease reconnects to the same sandbox; another lease gets its own', async () => {
    const adapter = agx();
    const mine = await lease(adapter, 'same-slug');
    const other = await lease(adapter, 'same-slug');
    const t1 = await adapter.waitReady(mine, testCtx());
    expect(t1.user).toBe(`dev+${mine.resourceId}`);
    expect((await sshExec(t1, 'echo kept > marker && pwd')).stdout.trim()).toBe(gwA.sandboxDir(mine.resourceId));
    const t2 = await adapter.resume(mine, testCtx());
    expect(t2.user).toBe(t1.user);
    expect((await sshExec(t2, 'cat marker')).stdout).toBe('kept\n');
    const t3 = await adapter.waitReady(other, testCtx());
    expect(t3.user).not.toBe(t1.user);
    expect((await sshExec(t3, 'cat marker 2>/dev/null || echo none')).stdout).toBe('none\n');
    expect(t1.workRoot).toBe(`${gwA.sandboxDir(mine.resourceId)}/.cache/durabox/work`);
    for (const b of [mine, other]) await adapter.release(b, 'keep', testCtx());
  });
});

describe('agx: the gateway host key is pinned per gateway and enforced', () => {
  it('a configured pin refuses a gateway presenting another key, before any login', async () => {
    const impostor = await gateway(hostB.privateKey);
    const adapter = agx({ port: impostor.port, hostKey: hostA.publicKey });
    const box = await lease(adapter);
    const e = await failure(adapter.waitReady(box, testCtx()));
    expect(e.kind).toBe('ownership');
    expect(e.message).toMatch(/AGX gateway 127\.0\.0\.1:\d+ presented SHA256:.*not the pinned SHA256:.*\(config\): refusing to connect/);
    expect(e.message).toContain(fingerprint(hostB.publicKey));
    expect(impostor.logins).toEqual([]);

    // The fingerprint form: matched against what the gateway presents, before the login.
    const byFp = agx({ port: impostor.port, hostKey: fingerprint(hostA.publicKey) });
    const e2 = await failure(byFp.waitReady(await lease(byFp), testCtx()));
    expect(e2.kind).toBe('ownership');
    expect(e2.message).toMatch(/agx\.hostKey pins SHA256:/);
    expect(impostor.logins).toEqual([]);

    // ... and the right fingerprint pins the full key.
    const good = agx({ hostKey: fingerprint(hostA.publicKey) });
    const gb = await lease(good);
    expect((await good.waitReady(gb, testCtx())).hostKeys).toEqual([hostA.publicKey]);
    await good.release(gb, 'keep', testCtx());
  });

  it("the user's known_hosts entry for the gateway is the pin when none is configured", async () => {
    const kh = join(tmp, 'known_hosts');
    writeFileSync(kh, `[127.0.0.1]:${gwA.port} ${hostB.publicKey}\n`);
    const wrong = agx({ hostKey: undefined, knownHostsFile: kh });
    const e = await failure(wrong.waitReady(await lease(wrong), testCtx()));
    expect(e.kind).toBe('ownership');
    expect(e.message).toMatch(/\(known_hosts\)/);

    writeFileSync(kh, `[127.0.0.1]:${gwA.port} ${hostA.publicKey}\n`);
    const right = agx({ hostKey: undefined, knownHostsFile: kh });
    const box = await lease(right);
    expect((await right.waitReady(box, testCtx())).hostKeys).toEqual([hostA.publicKey]);
    await right.release(box, 'keep', testCtx());
    expect(existsSync(gatewayKeysFile()) && readFileSync(gatewayKeysFile(), 'utf8').includes(`:${gwA.port}"`)).toBe(false);
  });

  it('trust on first use is recorded durably and enforced on the same and every later lease', async () => {
    const hostC = newGatewayHostKey();
    const hostD = newGatewayHostKey();
    const gwC = await gateway(hostC.privateKey);
    const port = gwC.port;
    const tofu = () => agx({ port, hostKey: undefined });

    const first = await lease(tofu());
    const doctorBefore = await tofu().doctor();
    expect(doctorBefore.find((c) => c.name === 'gateway host key')?.detail).toMatch(/not known yet: the first lease trusts/);
    const t1 = await tofu().waitReady(first, testCtx());
    expect(t1.hostKeys).toEqual([hostC.publicKey]);
    const file = gatewayKeysFile();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'agx')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, 'utf8')).gateways[`127.0.0.1:${port}`].keys).toEqual([hostC.publicKey]);

    // A second lease uses the recorded pin (no new first use).
    const second = await lease(tofu());
    expect((await tofu().waitReady(second, testCtx())).hostKeys).toEqual([hostC.publicKey]);
    expect((await tofu().doctor()).find((c) => c.name === 'gateway host key')?.detail).toMatch(/recorded on first use/);

    // The gateway is replaced by one with another key on the same host:port.
    await gwC.close();
    const impostor = await gateway(hostD.privateKey, { port });
    // ... the running lease refuses it,
    const running = await failure(sshExec(t1, 'true'));
    expect(running.kind).toBe('ownership');
    // ... and so does every new lease, with a clear message, without logging in.
    const third = await lease(tofu());
    const e = await failure(tofu().waitReady(third, testCtx()));
    expect(e.kind).toBe('ownership');
    expect(e.message).toContain(fingerprint(hostD.publicKey));
    expect(e.message).toMatch(/first-use-recorded.*refusing to connect.*rotated/);
    expect(impostor.logins).toEqual([]);
    // ... and the recorded pin is unchanged.
    expect(JSON.parse(readFileSync(file, 'utf8')).gateways[`127.0.0.1:${port}`].keys).toEqual([hostC.publicKey]);

    const probe = await getProvider('agx', settings({ port, hostKey: undefined, probe: true })).doctor();
    const p = probe.find((c) => c.name === 'gateway probe')!;
    expect(p.ok).toBe(false);
    expect(p.detail).toMatch(/does NOT match/);
  });
});

describe('agx: readiness, sync, run, release', () => {
  it('waits through provisioning with bounded backoff', async () => {
    const slow = await gateway(hostA.privateKey, { provisioningDrops: 2 });
    const adapter = agx({ port: slow.port });
    const box = await lease(adapter);
    const ctx = testCtx();
    const t = await adapter.waitReady(box, ctx);
    expect(ctx.beats.filter((b) => (b as { phase?: string }).phase === 'ssh-wait').length).toBeGreaterThanOrEqual(3);
    expect(slow.logins).toEqual([t.user]);
    await adapter.release(box, 'keep', testCtx());

    const never = await gateway(hostA.privateKey, { provisioningDrops: 1_000 });
    const bounded = agx({ port: never.port, readyTimeoutMs: 2_000 });
    const started = Date.now();
    const e = await failure(bounded.waitReady(await lease(bounded), testCtx()));
    expect(e.kind).toBe('not-ready');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('syncs a tree and runs a detached command through the gateway', async () => {
    const adapter = agx();
    const box = await lease(adapter, 'sync-run');
    const target: SshTarget = await adapter.waitReady(box, testCtx());
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'hello.txt'), 'hello through the gateway\n');
    writeFileSync(join(src, 'lib', 'x.sh'), 'echo from-x\n');
    const ctx = testCtx();
    const res = await syncTree({ target, localRoot: src, leaseId: box.leaseId, repoName: 'src' }, ctx);
    expect(res.files).toBe(2);
    expect(res.workdir).toBe(`${target.workRoot}/${box.leaseId}/src`);
    expect(readFileSync(join(gwA.sandboxDir(box.resourceId), '.cache/durabox/work', box.leaseId, 'src/hello.txt'), 'utf8')).toBe('hello through the gateway\n');
    expect(gwA.commands.some((c) => c.startsWith('rsync --server'))).toBe(true);

    // Second sync after a local delete prunes what the first one shipped.
    rmSync(join(src, 'lib', 'x.sh'));
    expect((await syncTree({ target, localRoot: src, leaseId: box.leaseId, repoName: 'src' }, testCtx())).deleted).toBe(1);

    const runId = 'run1';
    const { pid } = await startOrAttach(target, {
      leaseId: box.leaseId,
      runId,
      workdir: res.workdir,
      argv: ['bash', '-c', 'cat hello.txt; echo oops >&2; exit 3'],
    });
    const out = join(tmp, 'run1.stdout');
    await followStream(target, `${remoteRunDir(target, box.leaseId, runId)}/stdout`, pid, out, 0, () => {}, new AbortController().signal);
    let exit = await readExit(target, box.leaseId, runId);
    for (let i = 0; exit.code === undefined && i < 50; i++) {
      await sleep(100);
      exit = await readExit(target, box.leaseId, runId);
    }
    expect(exit.code).toBe(3);
    expect(readFileSync(out, 'utf8')).toBe('hello through the gateway\n');
    await adapter.release(box, 'keep', testCtx());
  });

  it('release (every action) removes only the local record and never contacts the gateway', async () => {
    const adapter = agx();
    for (const action of ['keep', 'stop', 'delete'] as const) {
      const box = await lease(adapter, `rel-${action}`);
      const t = await adapter.waitReady(box, testCtx());
      expect((await sshExec(t, 'touch left-alone')).code).toBe(0);
      const logins = gwA.logins.length;
      const commands = gwA.commands.length;
      const res = await adapter.release(box, action, testCtx());
      expect(res).toMatchObject({ action, alreadyGone: false });
      expect(res.note).toMatch(/only the local record was removed.*AGX reclaims it when idle/);
      expect(await adapter.findByLease({ leaseId: box.leaseId, slug: `rel-${action}` })).toEqual([]);
      expect(existsSync(join(gwA.sandboxDir(box.resourceId), 'left-alone'))).toBe(true);
      expect(gwA.logins.length).toBe(logins);
      expect(gwA.commands.length).toBe(commands);
    }
    expect(adapter.capabilities).toEqual({ stop: false, delete: false, resume: true, discover: false });
    expect(adapter.defaultReleaseAction).toBe('keep');
  });

  it('refuses an identity from another gateway, user or lease', async () => {
    const adapter = agx();
    const box = await lease(adapter);
    expect((await failure(agx({ user: 'someone' }).release(box, 'keep', testCtx()))).kind).toBe('ownership');
    expect((await failure(agx({ gateway: 'localhost' }).waitReady(box, testCtx()))).kind).toBe('ownership');
    const forged = { ...box, leaseId: newLeaseId() };
    expect((await failure(adapter.release(forged, 'keep', testCtx()))).kind).toBe('ownership');
    expect(await adapter.findByLease({ leaseId: box.leaseId, slug: 'x' })).toHaveLength(1);
    await adapter.release(box, 'keep', testCtx());
  });

  it('doctor: key present and 0600, pin source, probe by key exchange only', async () => {
    const checks = await agx({ probe: true }).doctor();
    const by = (n: string) => checks.find((c) => c.name === n)!;
    expect(by('key')).toMatchObject({ ok: true });
    expect(by('gateway host key').detail).toMatch(/pinned by agx\.hostKey/);
    expect(by('gateway probe')).toMatchObject({ ok: true });
    expect(by('gateway probe').detail).toMatch(/presents the pinned key/);
    expect(by('release').detail).toMatch(/reclaims idle sandboxes/);
    const loose = join(tmp, 'loose_key');
    writeFileSync(loose, 'x', { mode: 0o644 });
    expect((await agx({ keyPath: loose }).doctor()).find((c) => c.name === 'key')).toMatchObject({ ok: false });
    expect((await agx({ keyPath: join(tmp, 'missing') }).doctor()).find((c) => c.name === 'key')?.detail).toMatch(/not found/);
    // waitReady refuses both at once instead of retrying a refused login until the ready timeout.
    for (const [keyPath, why] of [[loose, /mode 644/], [join(tmp, 'missing'), /not found/]] as const) {
      const adapter = agx({ keyPath });
      const e = await failure(adapter.waitReady(await lease(adapter), testCtx()));
      expect(e.kind).toBe('invalid');
      expect(e.message).toMatch(why);
    }
  });
});

describeAdapterConformance('agx (fake gateway)', () => agx());
