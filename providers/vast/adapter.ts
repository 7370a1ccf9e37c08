/**
 * The `vast` provider: GPU instances rented from the Vast.ai marketplace (providers.md 2.1).
 *
 * - create: account → findByLease (adopt) → offer search → `PUT /asks/{id}/` with our label, trying
 *   the next offer when one is taken (up to maxOffers) → attach the per-lease key to the *instance*.
 *   An ambiguous rent looks for the label over a grace window before giving up as `ambiguous`.
 * - waitReady: poll the instance until running with an SSH endpoint (heartbeating), make sure our
 *   key is attached, relabel `ready`, then the SSH probe (host key pinned at first contact, per
 *   lease: Vast reuses IP:port pairs) and the tool check/bootstrap.
 * - release: same account and API endpoint as at create, the live label names this lease; stop =
 *   PUT stopped; delete = detach our key, revalidate, DELETE, wait until absent; keep = no call.
 *
 * Ownership is label + instance id + scope (`<apiUrl>#<account id>`); the local record (record.ts)
 * only supplies rent-time facts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { isProviderError, ProviderError, type ProviderErrorKind } from '../errors.js';
import { abortError } from '../common/exec.js';
import { ensureLeaseKey, leaseKeyPath } from '../common/keys.js';
import { waitForSsh } from '../common/ready.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { KEY_ENV_NAMES, keySource, PROVIDER, redact, VastApi } from './api.js';
import type { VastConfig } from './config.js';
import { labelNames, makeLabel, parseLabel, type LabelState } from './label.js';
import { readRecord, writeRecord, type VastRecord } from './record.js';
import {
  CreateInstanceSchema, ListInstancesV0Schema, ListInstancesV1Schema, OffersSchema, ShowInstanceSchema, SshKeysSchema,
  SuccessSchema, UserSchema, type VastInstance, type VastOffer,
} from './schemas.js';

/** States from which an instance never reaches `running` (the spec's "poll trap"). */
const TERMINAL = new Set(['exited', 'unknown', 'offline']);
const MAX_LIST_PAGES = 200;

interface Account {
  id: number;
  scope: string;
}

export class VastAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: true, delete: true, resume: true, discover: true };
  readonly defaultReleaseAction = 'delete' as const;
  readonly api: VastApi;

  constructor(private readonly config: VastConfig) {
    this.api = new VastApi(config.apiUrl, { timeoutMs: config.requestTimeoutMs });
  }

  // --- verbs ---------------------------------------------------------------------------------

  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    const account = await this.account('create');
    const lease = { leaseId: req.leaseId, slug: req.slug };
    const existing = await this.findInstances(lease, account);
    if (existing.length > 1) throw this.tooMany(existing, req.leaseId, 'create');
    if (existing.length === 1) {
      ctx.log(`vast: adopting instance ${existing[0]!.id}, which already carries lease ${req.leaseId}'s label`);
      return this.identity(existing[0]!, account, req.leaseId);
    }

    const offers = await this.searchOffers(req.leaseId);
    if (offers.length === 0) throw await this.noOfferError(req.leaseId);

    let rec: VastRecord = readRecord(req.leaseId) ?? { version: 1, leaseId: req.leaseId, slug: req.slug, scope: account.scope, attempts: [] };
    const taken: string[] = [];
    for (const offer of offers.slice(0, this.config.maxOffers)) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const attempt = { offerId: offer.id, dphTotal: offer.dph_total, machineId: offer.machine_id ?? undefined, at: new Date().toISOString() };
      ctx.heartbeat({ phase: 'rent', offerId: offer.id, dphTotal: offer.dph_total, attempt: taken.length + 1 });
      ctx.log(`vast: renting offer ${offer.id} (${offer.gpu_name ?? '?'} x${offer.num_gpus ?? '?'}, $${offer.dph_total.toFixed(3)}/h)`);
      rec = { ...rec, attempts: [...rec.attempts, { ...attempt, outcome: 'pending' }] };
      writeRecord(rec);
      const outcome = await this.rent(offer, req).catch((e: unknown) => e);
      const setOutcome = (o: VastRecord['attempts'][number]['outcome']) => {
        rec = { ...rec, attempts: rec.attempts.map((a, i) => (i === rec.attempts.length - 1 ? { ...a, outcome: o } : a)) };
        writeRecord(rec);
      };
      if (typeof outcome === 'number') {
        setOutcome('rented');
        rec = { ...rec, instanceId: outcome, offerId: offer.id, dphTotal: offer.dph_total, machineId: attempt.machineId, createdAt: attempt.at };
        writeRecord(rec);
        ctx.log(`vast: rented offer ${offer.id} as instance ${outcome}`);
        await this.attachKeyBestEffort(outcome, req.publicKey, req.leaseId, ctx);
        return this.identityFromRecord(outcome, rec, account);
      }
      if (outcome === 'taken') {
        setOutcome('taken');
        taken.push(String(offer.id));
        ctx.log(`vast: offer ${offer.id} was taken before we could rent it; trying the next one`);
        continue;
      }
      if (isProviderError(outcome) && outcome.kind === 'ambiguous') {
        setOutcome('ambiguous');
        ctx.log(`vast: renting offer ${offer.id} may have succeeded (${outcome.message}); looking for our label`);
        const adopted = await this.lookAfterAmbiguous(lease, account, ctx);
        if (!adopted) throw outcome;
        rec = { ...rec, instanceId: adopted.id, offerId: offer.id, dphTotal: offer.dph_total, machineId: attempt.machineId, createdAt: attempt.at };
        writeRecord(rec);
        ctx.log(`vast: the ambiguous rent did create instance ${adopted.id}; adopting it`);
        await this.attachKeyBestEffort(adopted.id, req.publicKey, req.leaseId, ctx);
        return this.identityFromRecord(adopted.id, rec, account);
      }
      setOutcome('failed');
      throw outcome;
    }
    throw this.error('capacity', 'create', `offers ${taken.join(', ')} were all taken before we could rent them (maxOffers ${this.config.maxOffers}); try again`, req.leaseId);
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const account = await this.account('findByLease');
    const found = await this.findInstances(lease, account);
    return found.map((inst) => this.identity(inst, account, lease.leaseId));
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    await this.verifyOwned(box, 'waitReady');
    return this.waitReadyInner(box, ctx, false);
  }

  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    if (action === 'keep') return { action, alreadyGone: false, note: `vast instance ${box.resourceId} left as it is (still billed)` };
    ctx.heartbeat({ phase: 'release', action });
    const inst = await this.verifyOwned(box, 'release', true);
    if (!inst) return { action, alreadyGone: true, note: `instance ${box.resourceId} no longer exists` };
    const id = inst.id;
    if (action === 'stop') {
      const slug = parseLabel(inst.label)!.slug;
      await this.manage(id, { state: 'stopped', label: makeLabel(box.leaseId, slug, 'stopped') }, 'release', box.leaseId);
      await this.waitUntil(id, (i) => i === null || i.actual_status !== 'running', 2 * 60_000, ctx, 'stop');
      return { action, alreadyGone: false, note: 'stopped (disk still billed; the GPU may be rented by someone else before a resume)' };
    }
    await this.detachLeaseKeys(id, box.leaseId, ctx);
    // Revalidate between the key detach and the destroy (providers.md 1.6).
    const again = await this.verifyOwned(box, 'release', true);
    if (!again) return { action, alreadyGone: true, note: `instance ${id} disappeared during release` };
    const r = await this.api.call({
      method: 'DELETE',
      path: `/api/v0/instances/${id}/`,
      schema: SuccessSchema,
      operation: 'release',
      leaseId: box.leaseId,
      retries: 3,
      allow: [404],
    });
    if (!r.ok) {
      // A 404 counts only when a direct lookup agrees.
      if ((await this.showInstance(id, 'release', box.leaseId)) !== null) {
        throw this.error('transient', 'release', `DELETE of instance ${id} said 404 but the instance still exists`, box.leaseId);
      }
      return { action, alreadyGone: true };
    }
    const gone = await this.waitUntil(id, (i) => i === null, 2 * 60_000, ctx, 'destroy');
    if (!gone) throw this.error('transient', 'release', `instance ${id} still listed after DELETE; will look again`, box.leaseId);
    return { action, alreadyGone: false };
  }

  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const inst = await this.verifyOwned(box, 'resume');
    if (inst.intended_status !== 'running' || inst.actual_status !== 'running') {
      ctx.log(`vast: starting instance ${inst.id}`);
      await this.manage(inst.id, { state: 'running' }, 'resume', box.leaseId);
    }
    return this.waitReadyInner(box, ctx, true);
  }

  /** Attach another worker's copy of the lease key to the instance (fleet takeover). */
  async authorize(box: BoxIdentity, publicKey: string, ctx: ProgressContext): Promise<void> {
    const inst = await this.verifyOwned(box, 'authorize');
    ctx.heartbeat({ phase: 'authorize' });
    await this.ensureKeyAttached(inst.id, publicKey, box.leaseId);
  }

  async listOwned(): Promise<OwnedResource[]> {
    await this.account('listOwned');
    const out: OwnedResource[] = [];
    for (const inst of await this.listInstances('listOwned')) {
      const p = parseLabel(inst.label);
      if (!p) continue;
      out.push({
        resourceId: String(inst.id),
        leaseId: p.leaseId,
        state: `${inst.actual_status ?? 'provisioning'}${p.state !== 'ready' ? ` (${p.state})` : ''}`,
        createdAt: inst.start_date ? new Date(inst.start_date * 1000).toISOString() : undefined,
      });
    }
    return out;
  }

  /** Read-only: key present (by name), endpoint, account, inventory, effective settings. */
  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const checks: DoctorCheck[] = [];
    const source = keySource();
    checks.push({ name: 'api key', ok: !!source, detail: source ? `${source} is set` : `neither ${KEY_ENV_NAMES.join(' nor ')} is set` });
    checks.push({ name: 'endpoint', ok: true, detail: c.apiUrl });
    if (source) {
      try {
        const account = await this.account('doctor');
        checks.push({ name: 'account', ok: true, detail: `account ${account.id} (scope ${account.scope})` });
        const all = await this.listInstances('doctor');
        const ours = all.filter((i) => parseLabel(i.label));
        checks.push({ name: 'instances', ok: true, detail: `${all.length} total, ${ours.length} with a durabox label` });
      } catch (e) {
        checks.push({ name: 'account', ok: false, detail: (e as Error).message });
      }
    }
    checks.push({ name: 'offer filters', ok: true, detail: this.describeFilters() });
    checks.push({
      name: 'settings',
      ok: true,
      detail: `release default delete; image ${c.templateHashId ? `template ${c.templateHashId}` : c.image}; disk ${c.diskGB} GB; runtype ${c.runtype}; user ${c.user}; workRoot ${c.workRoot}; failover ${c.maxOffers} offers`,
    });
    return checks;
  }

  // --- create helpers ------------------------------------------------------------------------

  /** The instance id, `'taken'` when the offer is gone, or a thrown ProviderError. */
  private async rent(offer: VastOffer, req: CreateRequest): Promise<number | 'taken'> {
    const c = this.config;
    const body: Record<string, unknown> = {
      label: makeLabel(req.leaseId, req.slug, 'provisioning'),
      disk: c.diskGB,
      runtype: c.runtype,
      target_state: 'running',
    };
    if (c.templateHashId) body.template_hash_id = c.templateHashId;
    else body.image = c.image;
    if (c.instanceType === 'interruptible') body.price = Math.max(0.001, Math.min(c.maxPrice, offer.min_bid ?? offer.dph_total));
    const r = await this.api.call({
      method: 'PUT',
      path: `/api/v0/asks/${offer.id}/`,
      body,
      schema: CreateInstanceSchema,
      operation: 'create',
      leaseId: req.leaseId,
      creates: true,
      allow: [400, 404, 410],
    });
    if (r.ok) {
      if (!r.data.success) throw this.error('ambiguous', 'create', `Vast answered success=false with contract ${r.data.new_contract}`, req.leaseId);
      return r.data.new_contract;
    }
    if (r.status === 404 || r.status === 410 || /no_such_ask|not available|no longer available/i.test(`${r.code} ${r.message}`)) return 'taken';
    throw this.error('invalid', 'create', `Vast PUT /api/v0/asks/${offer.id}/ → ${r.status} ${r.code}: ${r.message}`, req.leaseId, r.status);
  }

  /** After an ambiguous rent: look for our label over the grace window (inventories lag). */
  private async lookAfterAmbiguous(lease: LeaseRef, account: Account, ctx: ProgressContext): Promise<VastInstance | undefined> {
    const deadline = Date.now() + this.config.createGraceMs;
    for (let i = 1; ; i++) {
      ctx.heartbeat({ phase: 'ambiguous-create', lookup: i });
      const found = await this.findInstances(lease, account).catch(() => undefined);
      if (found && found.length > 1) throw this.tooMany(found, lease.leaseId, 'create');
      if (found?.length === 1) return found[0];
      if (Date.now() >= deadline) return undefined;
      await this.pause(Math.min(2_000, Math.max(10, deadline - Date.now())), ctx);
    }
  }

  private searchBody(withLimits: boolean): Record<string, unknown> {
    const c = this.config;
    const [field, dir] = c.order.split(':') as [string, string | undefined];
    const q: Record<string, unknown> = {
      verified: { eq: true },
      rentable: { eq: true },
      rented: { eq: false },
      num_gpus: { eq: c.gpuCount },
      disk_space: { gte: c.diskGB },
      type: c.instanceType === 'interruptible' ? 'bid' : 'ondemand',
      order: [[field, dir ?? 'asc']],
      limit: 64,
      allocated_storage: c.diskGB,
    };
    if (c.runtype === 'ssh_direct') q.direct_port_count = { gte: 1 };
    if (c.gpuName) q.gpu_name = { eq: vastGpuName(c.gpuName) };
    if (withLimits) {
      q.dph_total = { lte: c.maxPrice };
      if (c.minReliability !== undefined) q.reliability = { gte: c.minReliability };
    }
    return q;
  }

  private async searchOffers(leaseId: string, withLimits = true): Promise<VastOffer[]> {
    const r = await this.api.call({
      method: 'POST',
      path: '/api/v0/bundles/',
      body: this.searchBody(withLimits),
      schema: OffersSchema,
      operation: 'searchOffers',
      leaseId,
      retries: 3,
    });
    if (!r.ok) return [];
    // Never trust the server-side filter alone with the user's money.
    return r.data.filter((o) => this.offerAcceptable(o, withLimits));
  }

  private offerAcceptable(o: VastOffer, withLimits: boolean): boolean {
    const c = this.config;
    if (o.rentable === false || o.rented === true || o.verified === false) return false;
    if (o.num_gpus != null && o.num_gpus !== c.gpuCount) return false;
    if (c.gpuName && o.gpu_name != null && norm(o.gpu_name) !== norm(c.gpuName)) return false;
    if (c.runtype === 'ssh_direct' && o.direct_port_count != null && o.direct_port_count < 1) return false;
    if (!withLimits) return true;
    if (!(o.dph_total <= c.maxPrice)) return false;
    const rel = o.reliability2 ?? o.reliability;
    if (c.minReliability !== undefined && rel != null && rel < c.minReliability) return false;
    return true;
  }

  /** Fail fast, and say which filter excluded the offers that exist. */
  private async noOfferError(leaseId: string): Promise<ProviderError> {
    const c = this.config;
    const base = this.describeFilters();
    let why = '';
    const relaxed = await this.searchOffers(leaseId, false).catch(() => undefined);
    if (relaxed && relaxed.length === 0) {
      why = `no verified, rentable offer has ${c.gpuCount} x ${c.gpuName ?? 'any GPU'}${c.runtype === 'ssh_direct' ? ' with a direct SSH port' : ''} and ${c.diskGB} GB disk`;
    } else if (relaxed) {
      const cheapest = Math.min(...relaxed.map((o) => o.dph_total));
      const overPrice = relaxed.filter((o) => o.dph_total > c.maxPrice).length;
      const rels = relaxed.map((o) => o.reliability2 ?? o.reliability ?? 1);
      const lowRel = c.minReliability === undefined ? 0 : rels.filter((r) => r < c.minReliability!).length;
      const parts = [`${relaxed.length} offers match the GPU filters`];
      if (overPrice) parts.push(`${overPrice} cost more than max-price $${c.maxPrice}/h (cheapest $${cheapest.toFixed(3)}/h)`);
      if (lowRel) parts.push(`${lowRel} are below min-reliability ${c.minReliability} (best ${Math.max(...rels).toFixed(3)})`);
      why = parts.join('; ');
    }
    return this.error('capacity', 'create', `no Vast offer matches ${base}${why ? `: ${why}` : ''}`, leaseId);
  }

  private describeFilters(): string {
    const c = this.config;
    return [
      `gpu_name=${c.gpuName ? vastGpuName(c.gpuName) : 'any'}`,
      `num_gpus=${c.gpuCount}`,
      `dph_total<=${c.maxPrice}`,
      c.minReliability !== undefined ? `reliability>=${c.minReliability}` : undefined,
      `disk>=${c.diskGB}GB`,
      `type=${c.instanceType}`,
      'verified, rentable, unrented',
      c.runtype === 'ssh_direct' ? 'direct_port_count>=1' : undefined,
      `order ${c.order}`,
    ]
      .filter(Boolean)
      .join(', ');
  }

  // --- ready / resume ------------------------------------------------------------------------

  private async waitReadyInner(box: BoxIdentity, ctx: ProgressContext, resuming: boolean): Promise<SshTarget> {
    const id = Number(box.resourceId);
    const deadline = Date.now() + this.config.readyTimeoutMs;
    let endpoint: { host: string; port: number } | undefined;
    let inst: VastInstance | null = null;
    for (let attempt = 1; !endpoint; attempt++) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      inst = await this.showInstance(id, 'waitReady', box.leaseId);
      if (!inst) throw this.error('gone', 'waitReady', `instance ${id} no longer exists`, box.leaseId);
      if (!labelNames(inst.label, box.leaseId)) throw this.labelMismatch(inst, box.leaseId, 'waitReady');
      const status = inst.actual_status ?? null;
      ctx.heartbeat({ phase: 'vast-wait', status, attempt });
      if (status === 'running') endpoint = sshEndpoint(inst, this.config.runtype);
      if (endpoint) break;
      if (!resuming && inst.intended_status === 'stopped') {
        throw this.error('conflict', 'waitReady', `instance ${id} is stopped; resume it`, box.leaseId);
      }
      if (!resuming && status !== null && TERMINAL.has(status)) {
        throw this.error('capacity', 'waitReady', `instance ${id} went ${status}${inst.status_msg ? ` (${inst.status_msg.slice(0, 200)})` : ''} and will not start; release it and rent another offer`, box.leaseId);
      }
      if (Date.now() > deadline) {
        throw this.error(
          'not-ready',
          'waitReady',
          `instance ${id} not running with an SSH endpoint after ${Math.round(this.config.readyTimeoutMs / 1000)} s (status ${status ?? 'provisioning'}${inst.status_msg ? `: ${inst.status_msg.slice(0, 200)}` : ''})${resuming ? '; a stopped instance cannot restart while its GPU is rented by someone else' : ''}`,
          box.leaseId,
        );
      }
      await this.pause(this.config.pollIntervalMs, ctx);
    }
    const key = await ensureLeaseKey(box.leaseId);
    await this.ensureKeyAttached(id, key.publicKey, box.leaseId);
    const parsed = parseLabel(inst!.label)!;
    if (parsed.state !== 'ready') await this.manage(id, { label: makeLabel(box.leaseId, parsed.slug, 'ready') }, 'waitReady', box.leaseId);
    const target: SshTarget = {
      user: this.config.user,
      host: endpoint!.host,
      port: endpoint!.port,
      keyPath: key.keyPath,
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      hostKeys: [], // Vast publishes no host key: pinned at first contact, per lease
      workRoot: this.config.workRoot,
    };
    return waitForSsh(target, ctx, { timeoutMs: this.config.sshTimeoutMs });
  }

  // --- keys ----------------------------------------------------------------------------------

  private async instanceKeys(id: number, operation: string, leaseId: string) {
    return this.api.get({ path: `/api/v0/instances/${id}/ssh/`, schema: SshKeysSchema, operation, leaseId });
  }

  private async ensureKeyAttached(id: number, publicKey: string, leaseId: string): Promise<void> {
    const body = keyBody(publicKey);
    const keys = await this.instanceKeys(id, 'attachKey', leaseId);
    if (keys.some((k) => keyBody(k.publicKey) === body)) return;
    const r = await this.api.call({
      method: 'POST',
      path: `/api/v0/instances/${id}/ssh/`,
      body: { ssh_key: publicKey.trim() },
      schema: SuccessSchema,
      operation: 'attachKey',
      leaseId,
    });
    if (r.ok && r.data.success === false) throw this.error('transient', 'attachKey', `Vast refused to attach the lease key to instance ${id}: ${r.data.msg ?? ''}`, leaseId);
  }

  private async attachKeyBestEffort(id: number, publicKey: string, leaseId: string, ctx: ProgressContext): Promise<void> {
    try {
      await this.ensureKeyAttached(id, publicKey, leaseId);
    } catch (e) {
      ctx.log(`vast: attaching the lease key to instance ${id} failed (${(e as Error).message}); waitReady attaches it`);
    }
  }

  /** Detach every key on the instance that is this lease's (by key body, or by its comment). */
  private async detachLeaseKeys(id: number, leaseId: string, ctx: ProgressContext): Promise<void> {
    const pubFile = `${leaseKeyPath(leaseId)}.pub`;
    const ours = existsSync(pubFile) ? keyBody(readFileSync(pubFile, 'utf8')) : undefined;
    const keys = await this.instanceKeys(id, 'release', leaseId);
    for (const k of keys) {
      const mine = (ours && keyBody(k.publicKey) === ours) || k.publicKey.trim().endsWith(` durabox-${leaseId}`);
      if (!mine) continue;
      ctx.heartbeat({ phase: 'detach-key', keyId: k.id });
      await this.api.call({
        method: 'DELETE',
        path: `/api/v0/instances/${id}/ssh/${k.id}/`,
        schema: SuccessSchema,
        operation: 'detachKey',
        leaseId,
        retries: 3,
        allow: [404],
      });
    }
  }

  // --- API wrappers --------------------------------------------------------------------------

  private async account(operation: string): Promise<Account> {
    const user = await this.api.get({ path: '/api/v0/users/current/', schema: UserSchema, operation });
    if (!user.id) throw this.error('auth', operation, 'Vast /users/current/ returned account id 0: the key does not resolve to an account');
    return { id: user.id, scope: `${this.config.apiUrl}#${user.id}` };
  }

  /** `null` when Vast says the instance does not exist (404, or `instances: null`). */
  private async showInstance(id: number, operation: string, leaseId?: string): Promise<VastInstance | null> {
    const r = await this.api.call({
      method: 'GET',
      path: `/api/v0/instances/${id}/`,
      query: { owner: 'me' },
      schema: ShowInstanceSchema,
      operation,
      leaseId,
      retries: 3,
      allow: [404],
    });
    if (!r.ok) return null;
    if (r.data.instances && r.data.instances.id !== id) {
      throw this.error('invalid', operation, `asked Vast for instance ${id}, got ${r.data.instances.id}`, leaseId);
    }
    return r.data.instances;
  }

  private async manage(id: number, body: { state?: 'stopped' | 'running'; label?: string }, operation: string, leaseId: string): Promise<void> {
    const r = await this.api.call({
      method: 'PUT',
      path: `/api/v0/instances/${id}/`,
      body,
      schema: SuccessSchema,
      operation,
      leaseId,
      retries: 3,
    });
    if (r.ok && r.data.success === false) throw this.error('transient', operation, `Vast refused ${JSON.stringify(body)} on instance ${id}: ${r.data.msg ?? ''}`, leaseId);
  }

  /** Every instance of the account: v1 pages (`next_token` → `after_token`), else the v0 list. */
  private async listInstances(operation: string): Promise<VastInstance[]> {
    const out: VastInstance[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const query: Record<string, string> = { limit: '25', order_by: JSON.stringify([{ col: 'id', dir: 'asc' }]) };
      if (token) query.after_token = token;
      const r = await this.api.call({ method: 'GET', path: '/api/v1/instances/', query, schema: ListInstancesV1Schema, operation, retries: 3, allow: [404] });
      if (!r.ok) {
        if (page > 0) throw this.error('transient', operation, 'Vast v1 instance list vanished mid-pagination');
        return (await this.api.get({ path: '/api/v0/instances/', query: { owner: 'me' }, schema: ListInstancesV0Schema, operation })).instances;
      }
      out.push(...r.data.instances);
      if (!r.data.next_token) return out;
      if (r.data.next_token === token) throw this.error('invalid', operation, 'Vast returned the same next_token twice');
      token = r.data.next_token;
    }
    throw this.error('invalid', operation, `more than ${MAX_LIST_PAGES} pages of instances`);
  }

  private async findInstances(lease: LeaseRef, _account: Account): Promise<VastInstance[]> {
    return (await this.listInstances('findByLease')).filter((i) => labelNames(i.label, lease.leaseId));
  }

  /** Poll one instance until `done`; false when the limit passed. */
  private async waitUntil(id: number, done: (i: VastInstance | null) => boolean, limitMs: number, ctx: ProgressContext, phase: string): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      ctx.heartbeat({ phase });
      if (done(await this.showInstance(id, phase))) return true;
      if (Date.now() > deadline) return false;
      await this.pause(this.config.pollIntervalMs, ctx);
    }
  }

  // --- ownership -----------------------------------------------------------------------------

  /**
   * Same API endpoint and account as recorded, the instance id is ours, and its live label names
   * this lease. With `allowGone`, a verified absence returns null instead of throwing `gone`.
   */
  private async verifyOwned(box: BoxIdentity, op: string): Promise<VastInstance>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone: true): Promise<VastInstance | null>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone = false): Promise<VastInstance | null> {
    if (box.provider !== PROVIDER) throw this.error('ownership', op, `box ${box.resourceId} belongs to provider ${box.provider}`, box.leaseId);
    if (!/^\d{1,15}$/.test(box.resourceId)) throw this.error('ownership', op, `${JSON.stringify(box.resourceId)} is not a Vast instance id`, box.leaseId);
    const account = await this.account(op);
    if (account.scope !== box.scope) {
      throw this.error('ownership', op, `lease ${box.leaseId} was created in ${box.scope}; the key now resolves to ${account.scope}: not touching instance ${box.resourceId}`, box.leaseId);
    }
    const inst = await this.showInstance(Number(box.resourceId), op, box.leaseId);
    if (!inst) {
      if (allowGone) return null;
      throw this.error('gone', op, `instance ${box.resourceId} no longer exists`, box.leaseId);
    }
    if (!labelNames(inst.label, box.leaseId)) throw this.labelMismatch(inst, box.leaseId, op);
    return inst;
  }

  private labelMismatch(inst: VastInstance, leaseId: string, op: string): ProviderError {
    const p = parseLabel(inst.label);
    const what = p ? `lease ${p.leaseId}'s label` : inst.label ? 'a label that is not durabox\'s' : 'no label';
    return this.error('ownership', op, `instance ${inst.id} carries ${what}, not lease ${leaseId}'s: not touching it`, leaseId);
  }

  private tooMany(found: VastInstance[], leaseId: string, op: string): ProviderError {
    return this.error('ownership', op, `instances ${found.map((i) => i.id).join(', ')} all carry lease ${leaseId}'s label; touching none`, leaseId);
  }

  // --- identity ------------------------------------------------------------------------------

  private identity(inst: VastInstance, account: Account, leaseId: string): BoxIdentity {
    const rec = readRecord(leaseId);
    if (rec && rec.instanceId === inst.id && rec.scope === account.scope) return this.identityFromRecord(inst.id, rec, account);
    const slug = parseLabel(inst.label)?.slug ?? '';
    const details: BoxIdentity['details'] = {
      slug,
      accountId: account.id,
      apiUrl: this.config.apiUrl,
      dphTotal: inst.dph_total ?? 0,
      createdAt: inst.start_date ? new Date(inst.start_date * 1000).toISOString() : '',
    };
    if (inst.machine_id != null) details.machineId = inst.machine_id;
    return { provider: PROVIDER, leaseId, resourceId: String(inst.id), scope: account.scope, details, ...costOf(inst.dph_total) };
  }

  private identityFromRecord(id: number, rec: VastRecord, account: Account): BoxIdentity {
    const details: BoxIdentity['details'] = {
      slug: rec.slug,
      accountId: account.id,
      apiUrl: this.config.apiUrl,
      dphTotal: rec.dphTotal ?? 0,
      createdAt: rec.createdAt ?? '',
    };
    if (rec.offerId !== undefined) details.offerId = rec.offerId;
    if (rec.machineId !== undefined) details.machineId = rec.machineId;
    // Failover attempts travel with the identity, so they are visible in workflow history.
    if (rec.attempts.length) details.offersTried = rec.attempts.map((a) => `${a.offerId}:${a.outcome}`).join(',');
    return { provider: PROVIDER, leaseId: rec.leaseId, resourceId: String(id), scope: account.scope, details, ...costOf(rec.dphTotal) };
  }

  // --- misc ----------------------------------------------------------------------------------

  private async pause(ms: number, ctx: ProgressContext): Promise<void> {
    await sleep(ms, undefined, { signal: ctx.signal }).catch(() => {
      throw abortError(ctx.signal);
    });
  }

  private error(kind: ProviderErrorKind, operation: string, message: string, leaseId?: string, status?: number): ProviderError {
    return new ProviderError(kind, redact(message), { provider: PROVIDER, operation, leaseId, status });
  }
}

/** The rate recorded at rent time, for the lease's budget and status (omitted when unknown). */
function costOf(dph: number | null | undefined): { costPerHour?: number } {
  return typeof dph === 'number' && Number.isFinite(dph) && dph > 0 ? { costPerHour: dph } : {};
}

/** Vast spells GPU names with spaces (`RTX 4090`); users type underscores (`RTX_4090`). */
export function vastGpuName(name: string): string {
  return name.replace(/_/g, ' ').trim();
}

const norm = (s: string) => vastGpuName(s).toLowerCase().replace(/\s+/g, ' ');

/** `type base64` of an OpenSSH public key line (comments dropped). */
function keyBody(line: string): string {
  const [type, b64] = line.trim().split(/\s+/);
  return `${type ?? ''} ${b64 ?? ''}`;
}

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$|^[0-9a-fA-F:]{2,39}$/;

/** Where SSH answers: the direct port for ssh_direct when published, else ssh_host:ssh_port. */
export function sshEndpoint(inst: VastInstance, runtype: VastConfig['runtype']): { host: string; port: number } | undefined {
  const direct = directSshPort(inst.ports);
  const ip = inst.public_ipaddr?.trim();
  const candidates: Array<[string | undefined | null, number | undefined | null]> = [];
  if (runtype === 'ssh_direct') candidates.push([ip, direct]);
  candidates.push([inst.ssh_host?.trim(), inst.ssh_port]);
  if (runtype !== 'ssh_direct') candidates.push([ip, direct]);
  for (const [host, port] of candidates) {
    if (host && HOST.test(host) && port && Number.isInteger(port) && port >= 1 && port <= 65535) return { host, port };
  }
  return undefined;
}

function directSshPort(ports: unknown): number | undefined {
  if (!ports || typeof ports !== 'object' || Array.isArray(ports)) return undefined;
  const list = (ports as Record<string, unknown>)['22/tcp'];
  if (!Array.isArray(list)) return undefined;
  for (const b of list) {
    const p = Number((b as { HostPort?: unknown })?.HostPort);
    if (Number.isInteger(p) && p > 0 && p < 65536) return p;
  }
  return undefined;
}
