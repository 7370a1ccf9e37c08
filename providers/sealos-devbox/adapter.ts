/**
 * The `sealos-devbox` provider: one Sealos `Devbox` (devbox.sealos.io/v1alpha2) per lease, in the
 * user's namespace (providers.md 2.4). Pause by default.
 *
 * - create: findByLease (label selector) → adopt one, or POST the manifest with our labels. On
 *   AlreadyExists or an ambiguous failure, GET by name and adopt only if the labels name this lease,
 *   slug and scope; otherwise a clear error (the name is someone else's).
 * - waitReady: observed `status.phase` Running (never spec), for NodePort a published node port;
 *   the SSH key from the Devbox's own Secret, trusted only when its controller ownerReference is
 *   this Devbox (name and uid), written 0600 under the lease directory; then SSH (NodePort: pinned
 *   per lease at first contact; SSHGate: the configured gateway key, pinned per gateway) and tools.
 * - release: stop = merge-patch `spec.state` Paused (or Stopped) with resourceVersion; delete =
 *   DELETE with uid + resourceVersion preconditions, then wait until absent; keep = no call. A
 *   stale resourceVersion (409) re-reads, re-verifies and tries again.
 * - Before any mutation the live Devbox must carry this lease's labels, the recorded uid, and the
 *   scope (server, context, namespace, route) must equal the recorded one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { isProviderError, ProviderError, type ProviderErrorKind } from '../errors.js';
import { abortError } from '../common/exec.js';
import { waitForSsh } from '../common/ready.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { leaseDir } from '../common/state-dir.js';
import type { SealosConfig } from './config.js';
import type { Kube } from './kube.js';
import {
  A_LEASE, A_RELEASE, A_STATE, devboxName, GROUP, L_LEASE, L_SLUG, labelsNameLease, leaseLabels, PLURAL, PROVIDER, reasonOf, redact,
  selector, slugLabel, VERSION,
} from './markers.js';
import type { Devbox, KubeSecret } from './schemas.js';

export const KEY_FILE = 'sealos-devbox.key';
const PRIVATE_KEY = /^-----BEGIN [A-Z ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z ]*PRIVATE KEY-----\n?$/;
const STOPPED_PHASES = new Set(['Paused', 'Stopped', 'Shutdown']);

export class SealosDevboxAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: true, delete: true, resume: true, discover: true };
  readonly defaultReleaseAction: ReleaseAction;
  private client?: Promise<Kube>;

  constructor(private readonly config: SealosConfig) {
    this.defaultReleaseAction = config.releaseAction;
  }

  /**
   * Loaded on first use: the client library takes seconds to import, which no CLI command that
   * does not touch a cluster should pay, and a bad kubeconfig fails the call (one line), not the registry.
   */
  private kube(): Promise<Kube> {
    return (this.client ??= import('./kube.js').then((m) => new m.Kube(this.config)));
  }

  // --- verbs ---------------------------------------------------------------------------------

  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    this.checkCreatable(req.leaseId);
    const lease = { leaseId: req.leaseId, slug: req.slug };
    const existing = await this.findDevboxes(lease, 'create');
    if (existing.length > 1) throw this.tooMany(existing, req.leaseId);
    if (existing.length === 1) {
      ctx.log(`sealos-devbox: adopting Devbox ${existing[0]!.metadata.name}, which already carries lease ${req.leaseId}'s labels`);
      return this.identity(await this.kube(), existing[0]!, req.leaseId);
    }
    const name = devboxName(req.leaseId, req.slug);
    const k = await this.kube();
    ctx.heartbeat({ phase: 'create', name });
    ctx.log(`sealos-devbox: creating Devbox ${name} in ${k.target.context}/${k.target.namespace}`);
    try {
      return this.identity(k, await k.createDevbox(this.manifest(k, name, req), { operation: 'create', leaseId: req.leaseId }), req.leaseId);
    } catch (e) {
      if (!isProviderError(e)) throw e;
      const exists = e.kind === 'conflict' && reasonOf(e) === 'AlreadyExists';
      if (!exists && e.kind !== 'ambiguous') throw e;
      ctx.log(`sealos-devbox: ${exists ? `Devbox ${name} already exists` : `create may have succeeded (${e.message})`}; checking its labels`);
      const adopted = await this.lookByName(name, lease, exists ? 0 : this.config.createGraceMs, ctx);
      if (adopted) return this.identity(k, adopted, req.leaseId);
      if (exists) {
        throw this.error('conflict', 'create', `Devbox ${name} already exists in namespace ${k.target.namespace} and its labels do not name lease ${req.leaseId}: not adopting it`, req.leaseId);
      }
      throw e;
    }
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const k = await this.kube();
    return (await this.findDevboxes(lease, 'findByLease')).map((d) => this.identity(k, d, lease.leaseId));
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    await this.verifyOwned(box, 'waitReady');
    return this.waitReadyInner(box, ctx, false);
  }

  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    if (action === 'keep') return { action, alreadyGone: false, note: `Devbox ${box.resourceId} left as it is` };
    ctx.heartbeat({ phase: 'release', action });
    if (action === 'stop') {
      const state = this.config.stopState;
      const d = await this.setState(box, state, 'release', ctx);
      if (!d) return { action, alreadyGone: true, note: `Devbox ${box.resourceId} no longer exists` };
      await this.waitPhase(box, (x) => !!x && STOPPED_PHASES.has(x.status?.phase ?? ''), 2 * 60_000, ctx, 'pause');
      return { action, alreadyGone: false, note: `Devbox ${box.resourceId} ${state === 'Paused' ? 'paused (volume kept)' : 'stopped'}; resume sets it Running again` };
    }
    const gone = await this.deleteOwned(box, ctx);
    this.forgetKey(box.leaseId);
    return { action, alreadyGone: gone };
  }

  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const d = await this.setState(box, 'Running', 'resume', ctx);
    if (!d) throw this.error('gone', 'resume', `Devbox ${box.resourceId} no longer exists; not creating a replacement`, box.leaseId);
    return this.waitReadyInner(box, ctx, true);
  }

  async listOwned(): Promise<OwnedResource[]> {
    const items = await (await this.kube()).listDevboxes(selector(), { operation: 'listOwned' });
    return items.map((d) => ({
      resourceId: d.metadata.name,
      leaseId: d.metadata.labels?.[L_LEASE] ?? '',
      state: `${d.status?.phase ?? 'Pending'} (spec ${d.spec.state})`,
      createdAt: d.metadata.creationTimestamp ? new Date(d.metadata.creationTimestamp).toISOString() : undefined,
    }));
  }

  /** Read-only: context, namespace, CRD served, RBAC verbs (rules review), image and route. */
  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const checks: DoctorCheck[] = [];
    let kube: Kube;
    try {
      kube = await this.kube();
    } catch (e) {
      return [{ name: 'kubeconfig', ok: false, detail: (e as Error).message }];
    }
    const t = kube.target;
    checks.push({ name: 'context', ok: true, detail: `context ${t.context}, server ${t.server}, namespace ${t.namespace}` });
    try {
      const disc = await kube.discovery({ operation: 'doctor' });
      const res = disc?.resources.find((r) => r.name === PLURAL);
      checks.push({
        name: 'crd',
        ok: !!res,
        detail: res ? `${GROUP}/${VERSION} serves ${PLURAL} (verbs ${res.verbs.join(',')})` : `${GROUP}/${VERSION} is not served by this cluster (is Sealos DevBox installed?)`,
      });
    } catch (e) {
      checks.push({ name: 'crd', ok: false, detail: (e as Error).message });
    }
    try {
      const review = await kube.rulesReview({ operation: 'doctor' });
      const missing = missingVerbs(review.status.resourceRules);
      checks.push({
        name: 'rbac',
        ok: missing.length === 0,
        detail: missing.length ? `missing in namespace ${t.namespace}: ${missing.join(', ')}${review.status.incomplete ? ' (review incomplete)' : ''}` : `get/list/create/patch/delete devboxes, get secrets, list events in ${t.namespace}`,
      });
    } catch (e) {
      checks.push({ name: 'rbac', ok: false, detail: (e as Error).message });
    }
    checks.push({ name: 'image', ok: !!c.image, detail: c.image ? `${c.image}${c.templateId ? ` (template ${c.templateId})` : ''}` : 'no image: set sealos-devbox.image or --sealos-image' });
    const route = this.routeProblem();
    checks.push({
      name: 'route',
      ok: !route,
      detail: route ?? (c.network === 'SSHGate' ? `SSHGate ${c.gatewayHost}:${c.gatewayPort}, gateway key pinned (a pin cannot detect a gateway left on the public default seed)` : `NodePort via ${c.nodeHost}`),
    });
    checks.push({ name: 'settings', ok: true, detail: `release default ${c.releaseAction} (stop = ${c.stopState}); cpu ${c.cpu}, memory ${c.memory}, storage ${c.storage}; user ${c.sshUser}; workRoot ${c.workRoot}` });
    return checks;
  }

  // --- create helpers ------------------------------------------------------------------------

  private checkCreatable(leaseId: string): void {
    if (!this.config.image) throw this.error('invalid', 'create', 'no DevBox image: set sealos-devbox.image in your user config or pass --sealos-image', leaseId);
    const route = this.routeProblem();
    if (route) throw this.error('invalid', 'create', route, leaseId);
  }

  private routeProblem(): string | undefined {
    const c = this.config;
    if (c.network === 'SSHGate') {
      if (!c.gatewayHost) return 'SSHGate needs the gateway host: set sealos-devbox.gatewayHost (or use network NodePort with nodeHost)';
      if (!c.gatewayHostKey) return `SSHGate needs the gateway's host key pinned: set sealos-devbox.gatewayHostKey (ssh-keyscan -p ${c.gatewayPort} ${c.gatewayHost}, checked out of band)`;
    } else if (!c.nodeHost) return 'NodePort needs a node address: set sealos-devbox.nodeHost';
    return undefined;
  }

  private manifest(k: Kube, name: string, req: CreateRequest): object {
    const c = this.config;
    const spec: Record<string, unknown> = {
      state: 'Running',
      image: c.image,
      resource: { cpu: c.cpu, memory: c.memory },
      storageLimit: c.storage,
      network: { type: c.network, extraPorts: [] },
      config: {
        user: c.sshUser,
        workingDir: c.workingDir,
        ports: [{ name: 'devbox-ssh-port', containerPort: 22, protocol: 'TCP' }],
      },
    };
    if (c.templateId) spec.templateID = c.templateId;
    return {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'Devbox',
      metadata: {
        name,
        namespace: k.target.namespace,
        labels: leaseLabels(req.leaseId, req.slug, k.scope()),
        annotations: { [A_LEASE]: req.leaseId, [A_RELEASE]: c.releaseAction, [A_STATE]: 'creating' },
      },
      spec,
    };
  }

  /** After AlreadyExists or an ambiguous create: the Devbox by name, if its labels name this lease. */
  private async lookByName(name: string, lease: LeaseRef, graceMs: number, ctx: ProgressContext): Promise<Devbox | undefined> {
    const deadline = Date.now() + graceMs;
    const k = await this.kube();
    for (let i = 1; ; i++) {
      ctx.heartbeat({ phase: 'create-lookup', lookup: i });
      const d = await k.getDevbox(name, { operation: 'create', leaseId: lease.leaseId }).catch(() => undefined);
      if (d) return labelsNameLease(d.metadata.labels ?? undefined, lease.leaseId, k.scope(), lease.slug) ? d : undefined;
      if (Date.now() >= deadline) return undefined;
      await this.pause(Math.min(1_000, this.config.pollIntervalMs), ctx);
    }
  }

  private async findDevboxes(lease: LeaseRef, operation: string): Promise<Devbox[]> {
    const k = await this.kube();
    const items = await k.listDevboxes(selector(lease.leaseId), { operation, leaseId: lease.leaseId });
    return items.filter((d) => labelsNameLease(d.metadata.labels ?? undefined, lease.leaseId, k.scope()));
  }

  // --- ready ---------------------------------------------------------------------------------

  private async waitReadyInner(box: BoxIdentity, ctx: ProgressContext, resuming: boolean): Promise<SshTarget> {
    const c = this.config;
    const deadline = Date.now() + c.readyTimeoutMs;
    let runningSince: number | undefined;
    let keyPath: string | undefined;
    let port: number | undefined;
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const d = await this.verifyOwned(box, 'waitReady');
      const phase = d.status?.phase ?? 'Pending';
      ctx.heartbeat({ phase: 'devbox-wait', status: phase, attempt });
      if (!resuming && d.spec.state !== 'Running') {
        throw this.error('conflict', 'waitReady', `Devbox ${d.metadata.name} is set to ${d.spec.state}; resume it`, box.leaseId);
      }
      if (phase === 'Error') {
        const why = [...(d.status?.conditions ?? []).filter((x) => x.status !== 'True' || x.type === 'Error').map((x) => `${x.type}: ${x.reason ?? ''} ${x.message ?? ''}`.trim()), ...(await (await this.kube()).events(d.metadata.name, { operation: 'waitReady' }).catch(() => []))];
        throw this.error('capacity', 'waitReady', `Devbox ${d.metadata.name} is in phase Error${why.length ? ` (${why.join('; ').slice(0, 400)})` : ''}`, box.leaseId);
      }
      if (phase === 'Running') {
        runningSince ??= Date.now();
        port = c.network === 'NodePort' ? sshNodePort(d) : c.gatewayPort;
        if (!port && Date.now() - runningSince > c.nodePortTimeoutMs) {
          throw this.error('invalid', 'waitReady', `Devbox ${d.metadata.name} runs but has published no SSH node port (status.network.nodePort) after ${Math.round(c.nodePortTimeoutMs / 1000)} s; check that the controller serves network type NodePort`, box.leaseId);
        }
        if (port) {
          const secret = await (await this.kube()).getSecret(d.metadata.name, { operation: 'waitReady', leaseId: box.leaseId });
          if (secret) {
            keyPath = this.storeKey(secret, d, box.leaseId);
            break;
          }
          ctx.log(`sealos-devbox: Devbox ${d.metadata.name} runs; waiting for its Secret`);
        }
      }
      if (Date.now() > deadline) {
        throw this.error('not-ready', 'waitReady', `Devbox ${d.metadata.name} not ready after ${Math.round(c.readyTimeoutMs / 1000)} s (phase ${phase}${c.network === 'NodePort' && phase === 'Running' ? ', no node port or Secret yet' : ''})`, box.leaseId);
      }
      await this.pause(c.pollIntervalMs, ctx);
    }
    const target: SshTarget = {
      user: c.sshUser,
      host: c.network === 'NodePort' ? c.nodeHost! : c.gatewayHost!,
      port: port!,
      keyPath,
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      // NodePort reaches the pod's own sshd: pinned per lease at first contact. SSHGate: the gateway's configured key.
      hostKeys: c.network === 'SSHGate' ? [c.gatewayHostKey!] : [],
      workRoot: c.workRoot,
    };
    return waitForSsh(target, ctx, { timeoutMs: c.sshTimeoutMs });
  }

  /** The Devbox's private key, from a Secret this Devbox controls, into a 0600 file. Returns its path. */
  private storeKey(secret: KubeSecret, d: Devbox, leaseId: string): string {
    const owner = (secret.metadata.ownerReferences ?? []).find((r) => r.controller === true);
    if (!owner || owner.kind !== 'Devbox' || owner.name !== d.metadata.name || owner.uid !== d.metadata.uid || !owner.apiVersion.startsWith(`${GROUP}/`)) {
      const who = owner ? `${owner.kind} ${owner.name} (uid ${owner.uid})` : 'nothing';
      throw this.error('ownership', 'waitReady', `Secret ${secret.metadata.name} is controlled by ${who}, not Devbox ${d.metadata.name} (uid ${d.metadata.uid}): not using its key`, leaseId);
    }
    const b64 = secret.data?.SEALOS_DEVBOX_PRIVATE_KEY;
    if (!b64) throw this.error('not-ready', 'waitReady', `Secret ${secret.metadata.name} has no SEALOS_DEVBOX_PRIVATE_KEY yet`, leaseId);
    let text = Buffer.from(b64, 'base64').toString('utf8');
    // Some controller builds store the PEM base64-encoded once more.
    if (!text.startsWith('-----BEGIN')) text = Buffer.from(text.trim(), 'base64').toString('utf8');
    text = text.replace(/\r\n/g, '\n');
    if (!text.endsWith('\n')) text += '\n';
    if (!PRIVATE_KEY.test(text)) throw this.error('invalid', 'waitReady', `Secret ${secret.metadata.name}: SEALOS_DEVBOX_PRIVATE_KEY is not a PEM/OpenSSH private key`, leaseId);
    const path = join(leaseDir(leaseId), KEY_FILE);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
    return path;
  }

  private forgetKey(leaseId: string): void {
    const path = join(leaseDir(leaseId), KEY_FILE);
    if (existsSync(path)) unlinkSync(path);
  }

  // --- mutations with optimistic concurrency -------------------------------------------------

  /**
   * Merge-patch `spec.state` with the resourceVersion just read (after re-verifying ownership). A
   * 409 means someone (the controller) wrote in between: read, verify and try again. Returns the
   * patched Devbox, or null when it is verified absent.
   */
  private async setState(box: BoxIdentity, state: string, op: string, ctx: ProgressContext): Promise<Devbox | null> {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const d = await this.verifyOwned(box, op, true);
      if (!d) return (await this.confirmGone(box, op)) ? null : this.setState(box, state, op, ctx);
      if (d.spec.state === state) return d;
      const body = {
        metadata: { resourceVersion: d.metadata.resourceVersion, annotations: { [A_STATE]: state === 'Running' ? 'running' : 'stopped' } },
        spec: { state },
      };
      ctx.heartbeat({ phase: `set-${state}`, attempt });
      try {
        const patched = await (await this.kube()).patchDevbox(d.metadata.name, body, { operation: op, leaseId: box.leaseId });
        if (patched) return patched;
      } catch (e) {
        if (!isProviderError(e)) throw e;
        if (e.kind === 'conflict') {
          ctx.log(`sealos-devbox: Devbox ${d.metadata.name} changed since it was read (resourceVersion ${d.metadata.resourceVersion}); reading it again`);
          continue;
        }
        // The CRD's CEL rule refuses a state change while the current content is being committed.
        if (e.status === 422 && /commit|state/i.test(e.message)) throw this.error('transient', op, `${e.message} (the content is still being committed; retrying later)`, box.leaseId, 422);
        throw e;
      }
    }
    throw this.error('transient', op, `Devbox ${box.resourceId} kept changing under us; will try again`, box.leaseId);
  }

  /** DELETE with uid + resourceVersion preconditions, then wait until absent. True if it was gone already. */
  private async deleteOwned(box: BoxIdentity, ctx: ProgressContext): Promise<boolean> {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const d = await this.verifyOwned(box, 'release', true);
      if (!d) {
        if (await this.confirmGone(box, 'release')) return true;
        continue;
      }
      if (!d.metadata.deletionTimestamp) {
        ctx.heartbeat({ phase: 'delete', attempt });
        try {
          const found = await (await this.kube()).deleteDevbox(d.metadata.name, d.metadata.uid, d.metadata.resourceVersion, { operation: 'release', leaseId: box.leaseId });
          if (!found) continue; // 404 on DELETE: confirmed by the next pass's two GETs
        } catch (e) {
          if (isProviderError(e) && e.kind === 'conflict') {
            ctx.log(`sealos-devbox: delete precondition failed for Devbox ${d.metadata.name} (${e.message}); re-checking ownership`);
            continue;
          }
          throw e;
        }
      }
      const gone = await this.waitPhase(box, (x) => x === null, 2 * 60_000, ctx, 'deleting');
      if (gone && (await this.confirmGone(box, 'release'))) return false;
      throw this.error('transient', 'release', `Devbox ${d.metadata.name} still exists after DELETE (finalizer pending); will look again`, box.leaseId);
    }
    throw this.error('transient', 'release', `Devbox ${box.resourceId} kept changing under us; will try again`, box.leaseId);
  }

  /** NotFound counts only after a second direct GET agrees. */
  private async confirmGone(box: BoxIdentity, op: string): Promise<boolean> {
    await sleep(Math.min(200, this.config.pollIntervalMs));
    return (await (await this.kube()).getDevbox(box.resourceId, { operation: op, leaseId: box.leaseId })) === null;
  }

  /** Poll the Devbox (ownership checked each time) until `done`; false when the limit passed. */
  private async waitPhase(box: BoxIdentity, done: (d: Devbox | null) => boolean, limitMs: number, ctx: ProgressContext, phase: string): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      ctx.heartbeat({ phase });
      if (done(await this.verifyOwned(box, phase, true))) return true;
      if (Date.now() > deadline) return false;
      await this.pause(this.config.pollIntervalMs, ctx);
    }
  }

  // --- ownership -----------------------------------------------------------------------------

  /**
   * Same scope as recorded (server, context, namespace, route), the Devbox named by the record
   * exists with the recorded uid, and its labels name this lease. With `allowGone`, absence
   * returns null instead of throwing `gone`.
   */
  private async verifyOwned(box: BoxIdentity, op: string): Promise<Devbox>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone: true): Promise<Devbox | null>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone = false): Promise<Devbox | null> {
    if (box.provider !== PROVIDER) throw this.error('ownership', op, `box ${box.resourceId} belongs to provider ${box.provider}`, box.leaseId);
    const k = await this.kube();
    const scope = k.scope();
    if (scope !== box.scope) {
      throw this.error('ownership', op, `lease ${box.leaseId} was created in ${box.scope}; the kubeconfig now points at ${scope}: not touching Devbox ${box.resourceId}`, box.leaseId);
    }
    const d = await k.getDevbox(box.resourceId, { operation: op, leaseId: box.leaseId });
    if (!d) {
      if (allowGone) return null;
      throw this.error('gone', op, `Devbox ${box.resourceId} no longer exists`, box.leaseId);
    }
    if (!labelsNameLease(d.metadata.labels ?? undefined, box.leaseId, scope)) {
      const other = d.metadata.labels?.[L_LEASE];
      throw this.error('ownership', op, `Devbox ${d.metadata.name} carries ${other ? `lease ${other}'s labels` : 'no durabox labels'}, not lease ${box.leaseId}'s: not touching it`, box.leaseId);
    }
    if (d.metadata.uid !== box.details.uid) {
      throw this.error('ownership', op, `Devbox ${d.metadata.name} has uid ${d.metadata.uid}, lease ${box.leaseId} recorded ${String(box.details.uid)} (it was replaced): not touching it`, box.leaseId);
    }
    return d;
  }

  private tooMany(found: Devbox[], leaseId: string): ProviderError {
    return this.error('ownership', 'create', `Devboxes ${found.map((d) => d.metadata.name).join(', ')} all carry lease ${leaseId}'s labels; touching none`, leaseId);
  }

  private identity(k: Kube, d: Devbox, leaseId: string): BoxIdentity {
    const t = k.target;
    return {
      provider: PROVIDER,
      leaseId,
      resourceId: d.metadata.name,
      scope: k.scope(),
      details: {
        uid: d.metadata.uid,
        namespace: t.namespace,
        context: t.context,
        server: t.server,
        network: this.config.network,
        slug: d.metadata.labels?.[L_SLUG] ?? slugLabel(''),
        createdAt: d.metadata.creationTimestamp ? new Date(d.metadata.creationTimestamp).toISOString() : '',
      },
    };
  }

  private async pause(ms: number, ctx: ProgressContext): Promise<void> {
    await sleep(ms, undefined, { signal: ctx.signal }).catch(() => {
      throw abortError(ctx.signal);
    });
  }

  private error(kind: ProviderErrorKind, operation: string, message: string, leaseId?: string, status?: number): ProviderError {
    return new ProviderError(kind, redact(message), { provider: PROVIDER, operation, leaseId, status });
  }
}

/** The SSH node port: only the SSH-specific status field (providers.md 2.4). */
export function sshNodePort(d: Devbox): number | undefined {
  const p = d.status?.network?.nodePort;
  return typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined;
}

/** What the adapter needs in its namespace, as `verb resource` pairs the rules do not grant. */
export function missingVerbs(rules: Array<{ verbs: string[]; apiGroups?: string[] | null; resources?: string[] | null; resourceNames?: string[] | null }>): string[] {
  const need: Array<[string, string, string]> = [
    ...['get', 'list', 'create', 'patch', 'delete'].map((v) => [GROUP, PLURAL, v] as [string, string, string]),
    ['', 'secrets', 'get'],
    ['', 'events', 'list'],
  ];
  const grants = (g: string, r: string, v: string) =>
    rules.some(
      (rule) =>
        !(rule.resourceNames?.length) &&
        (rule.verbs.includes('*') || rule.verbs.includes(v)) &&
        (rule.apiGroups ?? []).some((x) => x === '*' || x === g) &&
        (rule.resources ?? []).some((x) => x === '*' || x === r),
    );
  return need.filter(([g, r, v]) => !grants(g, r, v)).map(([g, r, v]) => `${v} ${r}${g ? `.${g}` : ''}`);
}
