/**
 * The `agx` provider: microVM sandboxes behind an SSH gateway (providers.md 2.5).
 *
 * AGX publishes no control-plane API. A sandbox is `ssh <user>+<instance>@<gateway>` with the
 * operator's own registered key, provisioned on first connect and reclaimed by AGX when idle. So:
 * - `create` only derives the instance name from the lease and records it locally (no contact);
 * - `waitReady` pins the *gateway's* host key (per gateway, never per lease), then waits for SSH
 *   with bounded backoff (the first connect provisions), then checks git/rsync/tar;
 * - `release` (every action) removes the local record; nothing remote can be stopped or deleted,
 *   and `keep` is the default: the sandbox stays reachable until AGX reclaims it;
 * - ownership is proven by the record alone: the instance name carries a hash of the lease id.
 *
 * No HTTP client, no token: CreateRequest.publicKey/keyPath (the per-lease key) are unused, because
 * AGX only accepts the key the operator registered.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { isProviderError, ProviderError } from '../errors.js';
import { abortError, runProcess } from '../common/exec.js';
import { ensureTools, waitForSsh } from '../common/ready.js';
import { sshExec } from '../common/remote.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { ensureStateSubdir, leaseDir, safeSegment } from '../common/state-dir.js';
import { workRootProblem, type AgxConfig } from './config.js';
import { fingerprint, gatewayId, resolveGatewayPin, scanGatewayKeys, type GatewayPin } from './gateway-pin.js';
import { instanceBelongsTo, instanceName } from './instance.js';

const PROVIDER = 'agx';
const RECORD = 'agx.json';
const RECORD_VERSION = 1;

interface AgxRecord {
  version: number;
  leaseId: string;
  slug: string;
  resourceId: string;
  scope: string;
  createdAt: string;
}

export class AgxAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: false, delete: false, resume: true, discover: false };
  /** Nothing remote can be stopped or deleted; AGX reclaims idle sandboxes itself. */
  readonly defaultReleaseAction = 'keep' as const;

  constructor(private readonly config: AgxConfig) {}

  /** Account/endpoint the lease is bound to: the vm user at this gateway. */
  get scope(): string {
    return `agx:${this.config.user}@${gatewayId(this.config.gateway, this.config.port)}`;
  }

  /** The gateway login for an instance. */
  login(instance: string): string {
    return `${this.config.user}+${instance}`;
  }

  /** Derives the instance name and records it; never contacts the gateway. Repeats adopt the record. */
  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    const existing = this.readRecord(req.leaseId);
    if (existing && existing.scope !== this.scope) {
      throw this.error('ownership', 'create', `lease ${req.leaseId} is recorded at ${existing.scope}, config now names ${this.scope}`, req.leaseId);
    }
    const rec: AgxRecord = existing ?? {
      version: RECORD_VERSION,
      leaseId: req.leaseId,
      slug: req.slug,
      resourceId: instanceName(this.config.instancePrefix, req.leaseId, req.slug),
      scope: this.scope,
      createdAt: new Date().toISOString(),
    };
    if (!existing) {
      this.writeRecord(rec);
      ctx.log(`agx: lease ${req.leaseId} → ${this.login(rec.resourceId)}@${this.config.gateway} (provisioned on first connect)`);
    }
    return this.identity(rec);
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const rec = this.readRecord(lease.leaseId);
    if (!rec || rec.leaseId !== lease.leaseId || rec.scope !== this.scope || !instanceBelongsTo(rec.resourceId, rec.leaseId)) return [];
    return [this.identity(rec)];
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    this.verify(box, 'waitReady');
    this.checkKeyFile();
    const deadline = Date.now() + this.config.readyTimeoutMs;
    const pin = await this.gatewayPin(ctx, deadline);
    if (pin.source === 'first-use-new') ctx.log(`agx: gateway ${gatewayId(this.config.gateway, this.config.port)} key ${pin.detail}`);
    const base: SshTarget = {
      user: this.login(box.resourceId),
      host: this.config.gateway,
      port: this.config.port,
      keyPath: this.config.keyPath,
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      // The gateway pin, before first contact: common pinHostKey then checks strictly, never TOFU per lease.
      hostKeys: pin.keys,
      workRoot: this.config.workRoot ?? '/',
    };
    let target: SshTarget;
    try {
      target = await waitForSsh(base, ctx, { timeoutMs: Math.max(5_000, deadline - Date.now()), skipToolCheck: true });
    } catch (e) {
      if (isProviderError(e) && e.kind === 'ownership') throw await this.changedKeyError(pin, box.leaseId, e);
      throw e;
    }
    if (!this.config.workRoot) target = { ...target, workRoot: await this.remoteDefaultWorkRoot(target, ctx) };
    await ensureTools(target, ctx);
    return target;
  }

  /**
   * Every action only ends the lease and forgets the local record: AGX has no API to stop or delete a
   * sandbox. The sandbox stays until AGX reclaims it as idle; with `keep` that is the point.
   */
  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    this.verify(box, 'release');
    ctx.heartbeat({ phase: 'release', action });
    rmSync(this.recordPath(box.leaseId), { force: true });
    const what = `${this.login(box.resourceId)}@${this.config.gateway}`;
    return {
      action,
      alreadyGone: false,
      note:
        action === 'keep'
          ? `agx: only the local record was removed; sandbox ${what} is left for reuse until AGX reclaims it when idle`
          : `agx: no stop/delete API; only the local record was removed, sandbox ${what} stays until AGX reclaims it when idle`,
    };
  }

  /** Reconnect to the same instance (provisioned again by AGX if it was reclaimed). */
  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    return this.waitReady(box, ctx);
  }

  /** Records only (providers.md 2.5): AGX has no inventory, so nothing without a record is visible. */
  async listOwned(): Promise<OwnedResource[]> {
    const root = ensureStateSubdir('leases');
    const out: OwnedResource[] = [];
    for (const name of readdirSync(root)) {
      try {
        const rec = this.readRecord(safeSegment(name));
        if (rec && rec.leaseId === name && rec.scope === this.scope && instanceBelongsTo(rec.resourceId, rec.leaseId)) {
          out.push({ resourceId: rec.resourceId, leaseId: rec.leaseId, state: 'recorded', createdAt: rec.createdAt });
        }
      } catch {
        /* an unreadable or foreign record: listed by nobody */
      }
    }
    return out;
  }

  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const id = gatewayId(c.gateway, c.port);
    const checks: DoctorCheck[] = [
      { name: 'gateway', ok: true, detail: `${c.user}+<instance>@${id} (instances named ${c.instancePrefix}-<slug>-<hash of lease id>)` },
    ];
    if (existsSync(c.keyPath)) {
      const mode = statSync(c.keyPath).mode & 0o777;
      checks.push({
        name: 'key',
        ok: (mode & 0o077) === 0,
        detail: `${c.keyPath} mode ${mode.toString(8)}${(mode & 0o077) === 0 ? '' : ' (must be 0600: ssh refuses group/world-readable keys)'}`,
      });
    } else checks.push({ name: 'key', ok: false, detail: `${c.keyPath} not found (set agx.keyPath to the key you registered with AGX)` });

    let pin: GatewayPin | undefined;
    if (c.hostKey && !c.hostKey.startsWith('SHA256:')) pin = { keys: [c.hostKey], source: 'config', detail: `pinned by agx.hostKey (${fingerprint(c.hostKey)})` };
    else if (c.hostKey) pin = undefined; // a fingerprint is matched against the gateway's keys at connect time
    else {
      try {
        pin = await resolveGatewayPin(c, { firstUse: false });
      } catch (e) {
        checks.push({ name: 'gateway host key', ok: false, detail: (e as Error).message });
      }
    }
    if (pin) checks.push({ name: 'gateway host key', ok: true, detail: pin.detail });
    else if (c.hostKey) checks.push({ name: 'gateway host key', ok: true, detail: `pinned by agx.hostKey fingerprint ${c.hostKey}` });

    if (c.probe) checks.push(await this.probeCheck(pin));
    for (const [bin, args] of [['ssh', ['-V']], ['ssh-keyscan', ['-?']]] as const) {
      const found = await runProcess(bin, [...args]).then(() => true, () => false);
      checks.push({ name: bin, ok: found, detail: found ? 'found' : `${bin} not on PATH` });
    }
    checks.push({
      name: 'release',
      ok: true,
      detail: 'default keep; every action only removes the local record (AGX has no stop/delete API and reclaims idle sandboxes itself)',
    });
    checks.push({ name: 'records', ok: true, detail: `${(await this.listOwned()).length} lease record(s) for ${this.scope}` });
    return checks;
  }

  // --- helpers -------------------------------------------------------------------------------

  /** Key exchange only (no login: a login would provision a sandbox). Read-only. */
  private async probeCheck(pin: GatewayPin | undefined): Promise<DoctorCheck> {
    const c = this.config;
    let presented: string[];
    try {
      presented = await scanGatewayKeys(c.gateway, c.port, { timeoutMs: 10_000 });
    } catch (e) {
      return { name: 'gateway probe', ok: false, detail: (e as Error).message };
    }
    const fps = presented.map(fingerprint);
    if (c.hostKey?.startsWith('SHA256:')) {
      const ok = fps.some((f) => f.replace(/=+$/, '') === c.hostKey!.replace(/=+$/, ''));
      return { name: 'gateway probe', ok, detail: `gateway presents ${fps.join(', ')}; ${ok ? 'matches' : 'does NOT match'} agx.hostKey` };
    }
    if (!pin || pin.keys.length === 0) {
      return {
        name: 'gateway probe',
        ok: true,
        detail: `gateway presents ${fps.join(', ')}; not pinned yet: confirm with AGX, then set agx.hostKey to one of these (else the first lease records it)`,
      };
    }
    const ok = presented.some((k) => pin.keys.includes(k));
    return {
      name: 'gateway probe',
      ok,
      detail: ok ? `gateway presents the pinned key (${fps.join(', ')})` : `gateway presents ${fps.join(', ')}, which does NOT match the pin (${pin.detail})`,
    };
  }

  /** Resolve the gateway pin, retrying a gateway that does not answer yet within the ready deadline. */
  private async gatewayPin(ctx: ProgressContext, deadline: number): Promise<GatewayPin> {
    let delay = 500;
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      ctx.heartbeat({ phase: 'gateway-pin', attempt });
      try {
        return await resolveGatewayPin(this.config, {
          firstUse: true,
          signal: ctx.signal,
          scanTimeoutMs: Math.max(1_000, Math.min(10_000, deadline - Date.now())),
        });
      } catch (e) {
        if (!isProviderError(e) || e.kind !== 'transient' || Date.now() + delay > deadline) throw e;
      }
      await sleep(delay, undefined, { signal: ctx.signal }).catch(() => {
        throw abortError(ctx.signal);
      });
      delay = Math.min(delay * 2, 5_000);
    }
  }

  /** A changed gateway key: a hard error that says which pin was violated and how to proceed. */
  private async changedKeyError(pin: GatewayPin, leaseId: string, cause: ProviderError): Promise<ProviderError> {
    const c = this.config;
    const id = gatewayId(c.gateway, c.port);
    const presented = await scanGatewayKeys(c.gateway, c.port, { timeoutMs: 5_000 }).then(
      (keys) => `presented ${keys.map(fingerprint).join(', ')}`,
      () => 'presented a different key',
    );
    const fix: Record<GatewayPin['source'], string> = {
      config: 'check agx.hostKey against the key AGX publishes',
      'config-fingerprint': 'check agx.hostKey against the fingerprint AGX publishes',
      known_hosts: `your ${c.knownHostsFile} entry for the gateway disagrees; verify the key with AGX before changing it`,
      'first-use-recorded': `if AGX really rotated its key, verify the new fingerprint out of band, then set agx.hostKey or remove ${id} from the gateway-keys.json in the durabox state dir`,
      'first-use-new': 'the key changed between the first scan and the login; try again only after verifying the key with AGX',
      none: 'verify the key with AGX',
    };
    return new ProviderError(
      'ownership',
      `AGX gateway ${id} ${presented}, not the pinned ${pin.keys.map(fingerprint).join(', ')} (${pin.source}): refusing to connect; ${fix[pin.source]}`,
      { provider: PROVIDER, operation: 'waitReady', leaseId, cause },
    );
  }

  /**
   * Fail fast on a missing or loose key: ssh would only report a refused login, which waitForSsh
   * retries (keys may arrive late elsewhere) until the ready timeout.
   */
  private checkKeyFile(): void {
    const k = this.config.keyPath;
    if (!existsSync(k)) throw this.error('invalid', 'waitReady', `agx.keyPath ${k} not found; set it to the key you registered with AGX`);
    const mode = statSync(k).mode & 0o777;
    if ((mode & 0o077) !== 0) throw this.error('invalid', 'waitReady', `agx.keyPath ${k} has mode ${mode.toString(8)}; ssh refuses it until it is 0600 (chmod 600)`);
  }

  private async remoteDefaultWorkRoot(t: SshTarget, ctx: ProgressContext): Promise<string> {
    const res = await sshExec(t, 'printf %s "$HOME"', { signal: ctx.signal, timeoutMs: 30_000 });
    const home = res.stdout.trim().replace(/\/+$/, '');
    const root = `${home}/.cache/durabox/work`;
    if (res.code !== 0 || !home.startsWith('/') || workRootProblem(root)) {
      throw this.error('invalid', 'waitReady', `cannot resolve $HOME in ${t.user}@${t.host}; set agx.workRoot`);
    }
    return root;
  }

  private identity(rec: AgxRecord): BoxIdentity {
    return {
      provider: PROVIDER,
      leaseId: rec.leaseId,
      resourceId: rec.resourceId,
      scope: rec.scope,
      details: { instance: rec.resourceId, login: this.login(rec.resourceId), gateway: this.config.gateway, port: this.config.port, slug: rec.slug },
    };
  }

  /** The record is the only proof: same gateway and user, a name carrying this lease's hash, and the local record (if any) agrees. */
  private verify(box: BoxIdentity, operation: string): void {
    if (box.provider !== PROVIDER || box.scope !== this.scope) {
      throw this.error('ownership', operation, `lease ${box.leaseId} was recorded at ${box.scope}, config now names ${this.scope}`, box.leaseId);
    }
    if (!instanceBelongsTo(box.resourceId, box.leaseId)) {
      throw this.error('ownership', operation, `instance ${JSON.stringify(box.resourceId)} was not derived from lease ${box.leaseId}`, box.leaseId);
    }
    const rec = this.readRecord(box.leaseId);
    if (rec && (rec.leaseId !== box.leaseId || rec.resourceId !== box.resourceId)) {
      throw this.error('ownership', operation, `lease ${box.leaseId} recorded instance ${rec.resourceId}, not ${box.resourceId}`, box.leaseId);
    }
  }

  private recordPath(leaseId: string): string {
    return join(leaseDir(leaseId), RECORD);
  }

  private readRecord(leaseId: string): AgxRecord | undefined {
    const file = this.recordPath(leaseId);
    if (!existsSync(file)) return undefined;
    const rec = JSON.parse(readFileSync(file, 'utf8')) as AgxRecord;
    return rec.version === RECORD_VERSION ? rec : undefined;
  }

  private writeRecord(rec: AgxRecord): void {
    const file = this.recordPath(rec.leaseId);
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  }

  private error(kind: ProviderError['kind'], operation: string, message: string, leaseId?: string): ProviderError {
    return new ProviderError(kind, message, { provider: PROVIDER, operation, leaseId });
  }
}
