/**
 * The `coder` provider: workspaces on a Coder deployment (providers.md 2.3), lifecycle through the
 * REST API (`CODER_URL` + `CODER_SESSION_TOKEN` from the worker's environment), SSH through
 * `coder ssh --stdio <owner>/<workspace>` as a ProxyCommand that gets those two variables through
 * its environment only.
 *
 * - create: user → look the derived name up (ours per the lease record: adopt; anyone else's:
 *   `conflict`, never adopted) → template, parameters checked against the template version →
 *   record the attempt → `POST /users/me/workspaces`. An ambiguous create looks the name up over a
 *   grace window.
 * - waitReady: poll the workspace until its start build runs and a Linux agent is connected and
 *   ready (heartbeating), then the SSH probe (host key pinned per lease, re-pinned only for a new
 *   build or agent id) and the tool check.
 * - release: same deployment and user as at create, the live workspace has the recorded id, name
 *   and owner; stop (default) = stop build; delete = revalidate, delete build (never orphan), wait
 *   until gone; keep = no call. Not-found counts only after a fresh listing agrees.
 * - resume: start a stopped workspace (template autostop may have stopped it) and wait again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { ProviderError, type ProviderErrorKind } from '../errors.js';
import { abortError, runProcess } from '../common/exec.js';
import { ensureLeaseKey } from '../common/keys.js';
import { waitForSsh } from '../common/ready.js';
import { hostKeyAliasFor, knownHostsPath } from '../common/ssh-options.js';
import { CoderApi, PROVIDER, redact, resolveUrl, TOKEN_ENV, tokenPresent, URL_ENV } from './api.js';
import type { CoderConfig } from './config.js';
import { leaseIdFromName, nameNamesLease, workspaceName } from './naming.js';
import { readRecord, writeRecord, type CoderRecord } from './record.js';
import {
  BuildSchema, linuxAgent, ParametersSchema, PresetsSchema, TemplatesSchema, type CoderPreset, UserSchema, WorkspaceSchema, WorkspacesSchema,
  type CoderTemplate, type CoderWorkspace,
} from './schemas.js';

/** Build states in which Coder refuses a new build (one is still active). */
const ACTIVE = new Set(['pending', 'starting', 'stopping', 'deleting', 'canceling']);
const PAGE = 100;
const MAX_PAGES = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Me {
  id: string;
  username: string;
  url: string;
  scope: string;
}

export class CoderAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: true, delete: true, resume: true, discover: true };
  readonly defaultReleaseAction = 'stop' as const;
  readonly api: CoderApi;

  constructor(private readonly config: CoderConfig) {
    this.api = new CoderApi(config.url, config.requestTimeoutMs);
  }

  // --- verbs ---------------------------------------------------------------------------------

  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    const c = this.config;
    if (!c.template) throw this.error('invalid', 'create', 'coder.template is required to create a workspace (--coder-template <name>)', req.leaseId);
    const me = await this.me('create');
    const name = workspaceName(c.workspacePrefix, req.leaseId, req.slug);
    let rec: CoderRecord | undefined = readRecord(req.leaseId);
    if (rec && (rec.name !== name || rec.scope !== me.scope)) {
      throw this.error('ownership', 'create', `lease ${req.leaseId} recorded workspace ${rec.name} in ${rec.scope}; now asked for ${name} in ${me.scope}`, req.leaseId);
    }
    const existing = await this.byName(name, me, 'create', req.leaseId);
    if (existing) {
      if (this.recordedAsOurs(existing, rec)) {
        ctx.log(`coder: adopting workspace ${name} (${existing.id}), created earlier for lease ${req.leaseId}`);
        return this.adopt(existing, me, req.leaseId, rec!);
      }
      throw this.foreign(existing, req.leaseId, 'create');
    }

    const template = await this.template(c.template, 'create', req.leaseId);
    const versionId = c.templateVersionId ?? template.active_version_id;
    const preset = c.preset ? await this.preset(versionId, c.preset, req.leaseId) : undefined;
    const values = await this.parameterValues(versionId, req.leaseId, preset);
    rec = { version: 1, leaseId: req.leaseId, name, scope: me.scope, createSentAt: new Date().toISOString() };
    writeRecord(rec);
    const body: Record<string, unknown> = { name, rich_parameter_values: values };
    // With a preset, the version it was found in: the template's active version may change meanwhile.
    if (c.templateVersionId || preset) body.template_version_id = versionId;
    else body.template_id = template.id;
    if (preset) body.template_version_preset_id = preset.id;
    ctx.heartbeat({ phase: 'create', name });
    ctx.log(`coder: creating workspace ${name} from template ${template.name}`);
    let created: CoderWorkspace | undefined;
    try {
      const r = await this.api.call({
        method: 'POST',
        path: '/api/v2/users/me/workspaces',
        body,
        schema: WorkspaceSchema,
        operation: 'create',
        leaseId: req.leaseId,
        creates: true,
        allow: [400, 404],
      });
      if (!r.ok) throw this.error('invalid', 'create', `Coder refused to create workspace ${name}: ${r.status} ${r.message}`, req.leaseId, r.status);
      created = r.data;
    } catch (e) {
      if (!(e instanceof ProviderError) || e.kind !== 'ambiguous') throw e;
      ctx.log(`coder: create of ${name} may have succeeded (${e.message}); looking it up by name`);
      created = await this.lookAfterAmbiguous(name, me, rec, ctx);
      if (!created) throw e;
    }
    if (created.name !== name) throw this.error('invalid', 'create', `asked Coder for workspace ${name}, got ${created.name}`, req.leaseId);
    return this.adopt(created, me, req.leaseId, rec);
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const me = await this.me('findByLease');
    const rec = readRecord(lease.leaseId);
    const mine = (await this.listWorkspaces(me, 'findByLease')).filter((w) => nameNamesLease(this.config.workspacePrefix, w.name, lease.leaseId));
    // Ours only when the lease record says so: a workspace named like ours that we never asked for is someone else's.
    return mine.filter((w) => rec && rec.scope === me.scope && this.recordedAsOurs(w, rec)).map((w) => this.adopt(w, me, lease.leaseId, rec!));
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    await this.verifyOwned(box, 'waitReady');
    return this.waitReadyInner(box, ctx, false);
  }

  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    if (action === 'keep') return { action, alreadyGone: false, note: `coder workspace ${box.details.name ?? box.resourceId} left as it is` };
    ctx.heartbeat({ phase: 'release', action });
    let ws = await this.verifyOwned(box, 'release', true);
    if (!ws) return { action, alreadyGone: true, note: `workspace ${box.resourceId} no longer exists` };
    ws = await this.settle(box, ws, ctx);
    if (!ws) return { action, alreadyGone: true, note: `workspace ${box.resourceId} disappeared during release` };
    const b = ws.latest_build;
    if (action === 'stop') {
      if (b?.transition === 'delete') return { action, alreadyGone: true, note: 'workspace is being deleted' };
      if (!(b?.transition === 'stop' && b.status === 'stopped')) await this.build(box, 'stop', ctx);
      const done = await this.waitBuild(box, (w) => w?.latest_build?.transition === 'stop' && w.latest_build.status === 'stopped', ctx, 'stop');
      if (!done) throw this.error('transient', 'release', `workspace ${box.details.name} did not stop within ${Math.round(this.config.buildTimeoutMs / 1000)} s; will look again`, box.leaseId);
      return { action, alreadyGone: false, note: 'stopped (persistent resources kept; resume starts it again)' };
    }
    // delete: revalidate right before the destructive build (providers.md 1.6).
    const again = await this.verifyOwned(box, 'release', true);
    if (!again) return { action, alreadyGone: true, note: `workspace ${box.resourceId} disappeared during release` };
    if (again.latest_build?.transition !== 'delete') await this.build(box, 'delete', ctx);
    const gone = await this.waitBuild(box, (w) => w === null, ctx, 'delete');
    if (!gone) throw this.error('transient', 'release', `workspace ${box.details.name} still exists after its delete build; will look again`, box.leaseId);
    return { action, alreadyGone: false };
  }

  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    let ws = await this.verifyOwned(box, 'resume');
    const b = ws.latest_build;
    if (b?.transition === 'delete') throw this.error('gone', 'resume', `workspace ${ws.name} is being deleted`, box.leaseId);
    if (!(b?.transition === 'start' && b.status !== 'failed' && b.status !== 'canceled')) {
      const settled = await this.settle(box, ws, ctx);
      if (!settled) throw this.error('gone', 'resume', `workspace ${box.resourceId} no longer exists`, box.leaseId);
      ws = settled;
      const sb = ws.latest_build;
      if (!(sb?.transition === 'start' && sb.status === 'running')) {
        ctx.log(`coder: starting workspace ${ws.name}`);
        await this.build(box, 'start', ctx);
      }
    }
    return this.waitReadyInner(box, ctx, true);
  }

  async listOwned(): Promise<OwnedResource[]> {
    const me = await this.me('listOwned');
    const out: OwnedResource[] = [];
    for (const w of await this.listWorkspaces(me, 'listOwned')) {
      const leaseId = leaseIdFromName(this.config.workspacePrefix, w.name);
      if (!leaseId) continue;
      const b = w.latest_build;
      out.push({ resourceId: w.id, leaseId, state: `${b?.status ?? 'unknown'} (${b?.transition ?? '?'})`, createdAt: w.created_at ?? undefined });
    }
    return out;
  }

  /** Read-only: CLI, token (by name), deployment, user, template, owned workspaces, settings. */
  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const checks: DoctorCheck[] = [];
    const cli = await runProcess(c.cliPath, ['version'], { timeoutMs: 15_000 }).then(
      (r) => ({ ok: r.code === 0, detail: r.code === 0 ? `${c.cliPath}: ${r.stdout.trim().split('\n')[0] ?? ''}` : `${c.cliPath} version exited ${r.code}` }),
      (e: unknown) => ({ ok: false, detail: `${c.cliPath} not runnable (${(e as Error).message}); it is the SSH ProxyCommand` }),
    );
    checks.push({ name: 'coder cli', ...cli });
    checks.push({ name: 'session token', ok: tokenPresent(), detail: tokenPresent() ? `${TOKEN_ENV} is set` : `${TOKEN_ENV} is not set` });
    let url: string | undefined;
    try {
      url = resolveUrl(c.url, 'doctor');
      checks.push({ name: 'deployment', ok: true, detail: `${url}${c.url ? ' (coder.url)' : ` (${URL_ENV})`}` });
    } catch (e) {
      checks.push({ name: 'deployment', ok: false, detail: (e as Error).message });
    }
    if (url && tokenPresent()) {
      try {
        const me = await this.me('doctor');
        checks.push({ name: 'logged in', ok: true, detail: `as ${me.username} (${me.id})` });
        if (c.template) {
          const t = await this.template(c.template, 'doctor').then(
            (x) => ({ ok: true, detail: `${x.name} (${x.id}), active version ${x.active_version_id}` }),
            (e: unknown) => ({ ok: false, detail: (e as Error).message }),
          );
          checks.push({ name: 'template', ...t });
        } else {
          checks.push({ name: 'template', ok: false, detail: 'coder.template is not set (--coder-template <name>)' });
        }
        const all = await this.listWorkspaces(me, 'doctor');
        const ours = all.filter((w) => leaseIdFromName(c.workspacePrefix, w.name));
        checks.push({ name: 'workspaces', ok: true, detail: `${all.length} owned by ${me.username}, ${ours.length} named ${c.workspacePrefix}-…-<lease>` });
      } catch (e) {
        checks.push({ name: 'logged in', ok: false, detail: (e as Error).message });
      }
    }
    checks.push({
      name: 'settings',
      ok: true,
      detail: `release default stop; prefix ${c.workspacePrefix}; workRoot ${c.workRoot}; ssh user ${c.user}; wait ${c.wait}${c.preset ? `; preset ${c.preset}` : ''}; parameters ${Object.keys(c.parameters).join(',') || 'none'}${c.richParameterFile ? ` + ${c.richParameterFile}` : ''}`,
    });
    return checks;
  }

  // --- create helpers ------------------------------------------------------------------------

  /** Ours when the record holds its id, or we sent a create for this name no later than it appeared. */
  private recordedAsOurs(w: CoderWorkspace, rec: CoderRecord | undefined): boolean {
    if (!rec || rec.name !== w.name) return false;
    if (rec.workspaceId) return rec.workspaceId === w.id;
    if (!rec.createSentAt || !w.created_at) return false;
    // Clocks differ between the worker and coderd: allow a minute of skew, never more.
    return Date.parse(w.created_at) >= Date.parse(rec.createSentAt) - 60_000;
  }

  private adopt(w: CoderWorkspace, me: Me, leaseId: string, rec: CoderRecord): BoxIdentity {
    if (rec.workspaceId !== w.id) writeRecord({ ...rec, workspaceId: w.id });
    return this.identity(w, me, leaseId);
  }

  private foreign(w: CoderWorkspace, leaseId: string, op: string): ProviderError {
    return this.error(
      'conflict',
      op,
      `a workspace named ${w.name} (${w.id}, owner ${w.owner_name ?? '?'}) already exists and was not created by lease ${leaseId}: refusing to adopt it; rename or delete it, or use another workspacePrefix`,
      leaseId,
    );
  }

  private async lookAfterAmbiguous(name: string, me: Me, rec: CoderRecord, ctx: ProgressContext): Promise<CoderWorkspace | undefined> {
    const deadline = Date.now() + this.config.createGraceMs;
    for (let i = 1; ; i++) {
      ctx.heartbeat({ phase: 'ambiguous-create', lookup: i });
      const found = await this.byName(name, me, 'create', rec.leaseId).catch(() => undefined);
      if (found) {
        if (!this.recordedAsOurs(found, rec)) throw this.foreign(found, rec.leaseId, 'create');
        return found;
      }
      if (Date.now() >= deadline) return undefined;
      await this.pause(Math.min(2_000, Math.max(10, deadline - Date.now())), ctx);
    }
  }

  private async template(nameOrId: string, op: string, leaseId?: string): Promise<CoderTemplate> {
    const all = await this.api.get({ path: '/api/v2/templates', schema: TemplatesSchema, operation: op, leaseId });
    const hits = all.filter((t) => t.name === nameOrId || t.id === nameOrId);
    if (hits.length === 0) {
      const known = all.map((t) => t.name).slice(0, 10).join(', ');
      throw this.error('invalid', op, `no Coder template named ${JSON.stringify(nameOrId)} is visible to this user${known ? ` (known: ${known})` : ''}`, leaseId);
    }
    if (hits.length > 1) throw this.error('invalid', op, `template ${JSON.stringify(nameOrId)} exists in ${hits.length} organizations; give its id`, leaseId);
    if (hits[0]!.deprecated) throw this.error('invalid', op, `template ${nameOrId} is deprecated`, leaseId);
    return hits[0]!;
  }

  /** The configured preset of this template version: by id (any case), else by name. */
  private async preset(versionId: string, wanted: string, leaseId: string): Promise<CoderPreset> {
    const all = await this.api.get({ path: `/api/v2/templateversions/${encodeURIComponent(versionId)}/presets`, schema: PresetsSchema, operation: 'create', leaseId });
    const byId = all.filter((p) => p.id.toLowerCase() === wanted.toLowerCase());
    const hits = byId.length > 0 ? byId : all.filter((p) => p.name === wanted);
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw this.error('invalid', 'create', `${hits.length} presets of the template version are named ${JSON.stringify(wanted)}; give its id`, leaseId);
    const names = all.map((p) => p.name);
    const known = names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', ');
    throw this.error('invalid', 'create', `the template version has no preset ${JSON.stringify(wanted)} (it has: ${known || 'none'})`, leaseId);
  }

  /** Configured values (file, then flags/config), checked against the version's parameters. */
  private async parameterValues(versionId: string, leaseId: string, preset?: CoderPreset): Promise<Array<{ name: string; value: string }>> {
    const c = this.config;
    const values: Record<string, string> = { ...this.fileParameters(leaseId), ...c.parameters };
    // Coder takes a preset's values over rich_parameter_values without a word: refuse the clash.
    const presetValues = new Map((preset?.parameters ?? []).map((p) => [p.name, p.value]));
    const clash = Object.keys(values).filter((k) => presetValues.has(k) && presetValues.get(k) !== values[k]);
    if (clash.length) {
      throw this.error('invalid', 'create', `preset ${JSON.stringify(preset!.name)} sets ${clash.join(', ')}; Coder would ignore the value given here, so drop it or choose another preset`, leaseId);
    }
    const params = await this.api.get({ path: `/api/v2/templateversions/${encodeURIComponent(versionId)}/rich-parameters`, schema: ParametersSchema, operation: 'create', leaseId });
    const known = new Set(params.map((p) => p.name));
    const unknown = Object.keys(values).filter((k) => !known.has(k));
    if (unknown.length) {
      throw this.error('invalid', 'create', `the template has no parameter ${unknown.join(', ')} (it has: ${[...known].join(', ') || 'none'})`, leaseId);
    }
    const missing = params.filter(
      (p) => !(p.name in values) && !presetValues.has(p.name) && (p.required || !c.useParameterDefaults) && !(c.useParameterDefaults && (p.default_value ?? '') !== ''),
    );
    if (missing.length) {
      throw this.error('invalid', 'create', `missing template parameter${missing.length > 1 ? 's' : ''} ${missing.map((p) => p.name).join(', ')}: pass --coder-param name=value`, leaseId);
    }
    return Object.entries(values).map(([name, value]) => ({ name, value }));
  }

  private fileParameters(leaseId: string): Record<string, string> {
    const f = this.config.richParameterFile;
    if (!f) return {};
    let data: unknown;
    try {
      data = parseYaml(readFileSync(f, 'utf8'));
    } catch (e) {
      throw this.error('invalid', 'create', `richParameterFile ${f}: ${(e as Error).message.split('\n')[0]}`, leaseId);
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw this.error('invalid', 'create', `richParameterFile ${f}: expected name: value pairs`, leaseId);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
      if (v === null || typeof v === 'object') throw this.error('invalid', 'create', `richParameterFile ${f}: ${k} is not a plain value`, leaseId);
      out[k] = String(v);
    }
    return out;
  }

  // --- ready ---------------------------------------------------------------------------------

  private async waitReadyInner(box: BoxIdentity, ctx: ProgressContext, resuming: boolean): Promise<SshTarget> {
    const deadline = Date.now() + this.config.readyTimeoutMs;
    let ready: { ws: CoderWorkspace; buildId: string; agentId: string } | undefined;
    for (let attempt = 1; !ready; attempt++) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      const ws = await this.verifyOwned(box, 'waitReady');
      const b = ws.latest_build;
      const agent = linuxAgent(b);
      ctx.heartbeat({ phase: 'coder-wait', build: b?.status, transition: b?.transition, agent: agent?.status, lifecycle: agent?.lifecycle_state, attempt });
      if (b?.transition === 'start' && b.status === 'running' && agent?.status === 'connected') {
        if (agent.lifecycle_state === 'ready') ready = { ws, buildId: b.id, agentId: agent.id };
        else if (agent.lifecycle_state === 'start_timeout') {
          ctx.log(`coder: agent ${agent.name ?? agent.id} startup scripts timed out; the workspace may be incomplete`);
          ready = { ws, buildId: b.id, agentId: agent.id };
        } else if (agent.lifecycle_state === 'start_error') {
          throw this.error('invalid', 'waitReady', `agent ${agent.name ?? agent.id} of workspace ${ws.name} failed its startup scripts (lifecycle start_error)`, box.leaseId);
        }
        if (ready) break;
      }
      if (b?.transition === 'start' && (b.status === 'failed' || b.status === 'canceled')) {
        throw this.error('invalid', 'waitReady', `start build of workspace ${ws.name} ${b.status}${b.job?.error ? `: ${b.job.error.slice(0, 300)}` : ''}`, box.leaseId);
      }
      if (b?.transition === 'start' && b.status === 'running' && !agent) {
        throw this.error('invalid', 'waitReady', `workspace ${ws.name} has no Linux agent: durabox needs one to reach it over SSH`, box.leaseId);
      }
      if (b?.transition === 'delete') throw this.error('gone', 'waitReady', `workspace ${ws.name} is being deleted`, box.leaseId);
      if (b?.transition === 'stop' && !resuming) throw this.error('conflict', 'waitReady', `workspace ${ws.name} is stopped (${b.status}); resume it`, box.leaseId);
      if (Date.now() > deadline) {
        throw this.error(
          'not-ready',
          'waitReady',
          `workspace ${ws.name} not ready after ${Math.round(this.config.readyTimeoutMs / 1000)} s (build ${b?.status ?? '?'}/${b?.transition ?? '?'}, agent ${agent?.status ?? 'none'}/${agent?.lifecycle_state ?? '-'})`,
          box.leaseId,
        );
      }
      await this.pause(this.config.pollIntervalMs, ctx);
    }
    return this.sshReady(box, ready, ctx);
  }

  private async sshReady(box: BoxIdentity, ready: { ws: CoderWorkspace; buildId: string; agentId: string }, ctx: ProgressContext): Promise<SshTarget> {
    const c = this.config;
    const url = this.api.base('waitReady');
    // The tunnel reads CODER_URL from its environment: it must be the deployment this lease lives on.
    const envUrl = process.env[URL_ENV]?.trim();
    if (!envUrl || resolveUrl(undefined, 'waitReady') !== url) {
      throw this.error('invalid', 'waitReady', `${URL_ENV} in the worker's environment must be ${url} (the ssh tunnel reads it; it is ${envUrl ? JSON.stringify(envUrl) : 'unset'})`, box.leaseId);
    }
    const key = await ensureLeaseKey(box.leaseId);
    const owner = ready.ws.owner_name ?? String(box.details.ownerName ?? '');
    let target: SshTarget = {
      user: c.user,
      host: `${ready.ws.name}.coder`,
      port: 22,
      keyPath: key.keyPath, // the agent authenticates the tunnel; ssh still offers the lease key only
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      hostKeys: [],
      proxyCommand: [c.cliPath, 'ssh', '--stdio', '--wait', c.wait, `${owner}/${ready.ws.name}`],
      proxyEnv: [URL_ENV, TOKEN_ENV],
      workRoot: c.workRoot,
    };
    const rec = readRecord(box.leaseId);
    const samePin = rec?.pin && rec.pin.buildId === ready.buildId && rec.pin.agentId === ready.agentId;
    if (samePin) {
      target = { ...target, hostKeys: rec!.pin!.hostKeys };
    } else {
      // The agent makes a new host key at every start: a new build or agent id is the one reason to trust anew.
      if (rec?.pin) ctx.log(`coder: workspace ${ready.ws.name} has a new build/agent; pinning its new host key`);
      writeFileSync(knownHostsPath(target), '', { mode: 0o600 });
    }
    const pinned = await waitForSsh(target, ctx, { timeoutMs: c.sshTimeoutMs });
    const now = readRecord(box.leaseId);
    if (now) writeRecord({ ...now, pin: { buildId: ready.buildId, agentId: ready.agentId, hostKeys: pinned.hostKeys } });
    return pinned;
  }

  // --- builds --------------------------------------------------------------------------------

  /** Wait until no build is active (Coder refuses a new one meanwhile); null when the workspace went away. */
  private async settle(box: BoxIdentity, ws: CoderWorkspace, ctx: ProgressContext): Promise<CoderWorkspace | null> {
    if (!ACTIVE.has(ws.latest_build?.status ?? '')) return ws;
    let last: CoderWorkspace | null = ws;
    const ok = await this.waitBuild(box, (w) => {
      last = w;
      return w === null || !ACTIVE.has(w.latest_build?.status ?? '');
    }, ctx, 'settle');
    if (!ok) throw this.error('transient', 'settle', `a build of workspace ${box.details.name} is still ${ws.latest_build?.status}; will look again`, box.leaseId);
    return last;
  }

  /** Start a build. Never `orphan`. A 409 (another build became active) is retried after it settles. */
  private async build(box: BoxIdentity, transition: 'start' | 'stop' | 'delete', ctx: ProgressContext): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      ctx.heartbeat({ phase: `build-${transition}` });
      const r = await this.api.call({
        method: 'POST',
        path: `/api/v2/workspaces/${box.resourceId}/builds`,
        body: { transition },
        schema: BuildSchema,
        operation: transition === 'start' ? 'resume' : 'release',
        leaseId: box.leaseId,
        retries: 2,
        allow: [409],
      });
      if (r.ok) return;
      const ws = await this.verifyOwned(box, 'release', true);
      if (!ws || !(await this.settle(box, ws, ctx))) return;
    }
    throw this.error('transient', 'release', `Coder kept refusing a ${transition} build of ${box.details.name} (another build is active)`, box.leaseId);
  }

  /** Poll the workspace (null = verified gone) until `done`; false when the limit passed. */
  private async waitBuild(box: BoxIdentity, done: (w: CoderWorkspace | null) => boolean, ctx: ProgressContext, phase: string): Promise<boolean> {
    const deadline = Date.now() + this.config.buildTimeoutMs;
    for (;;) {
      ctx.heartbeat({ phase });
      if (done(await this.verifyOwned(box, phase, true))) return true;
      if (Date.now() > deadline) return false;
      await this.pause(this.config.pollIntervalMs, ctx);
    }
  }

  // --- API wrappers --------------------------------------------------------------------------

  private async me(operation: string): Promise<Me> {
    const url = this.api.base(operation);
    const u = await this.api.get({ path: '/api/v2/users/me', schema: UserSchema, operation });
    return { id: u.id, username: u.username, url, scope: `${url}#${u.id}` };
  }

  /** Every workspace the user owns, paged. */
  private async listWorkspaces(me: Me, operation: string, extraQuery = ''): Promise<CoderWorkspace[]> {
    const out: CoderWorkspace[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await this.api.get({
        path: '/api/v2/workspaces',
        query: { q: `owner:me${extraQuery}`, limit: String(PAGE), offset: String(page * PAGE) },
        schema: WorkspacesSchema,
        operation,
      });
      out.push(...r.workspaces);
      if (r.workspaces.length < PAGE) return out.filter((w) => !w.owner_id || w.owner_id === me.id);
    }
    throw this.error('invalid', operation, `more than ${MAX_PAGES * PAGE} workspaces`);
  }

  /** The user's workspace with exactly this name (Coder's `name:` filter matches substrings). */
  private async byName(name: string, me: Me, operation: string, leaseId: string): Promise<CoderWorkspace | undefined> {
    const hits = (await this.listWorkspaces(me, operation, ` name:${name}`)).filter((w) => w.name === name);
    if (hits.length > 1) throw this.error('ownership', operation, `${hits.length} workspaces are named ${name}; touching none`, leaseId);
    return hits[0];
  }

  /** GET by id; null when Coder says 404/410 *and* a fresh listing does not show it. */
  private async workspace(id: string, operation: string, me: Me, leaseId: string): Promise<CoderWorkspace | null> {
    const r = await this.api.call({ method: 'GET', path: `/api/v2/workspaces/${id}`, schema: WorkspaceSchema, operation, leaseId, retries: 3, allow: [404, 410] });
    if (r.ok && r.data.latest_build?.status !== 'deleted') {
      if (r.data.id !== id) throw this.error('invalid', operation, `asked Coder for workspace ${id}, got ${r.data.id}`, leaseId);
      return r.data;
    }
    if ((await this.listWorkspaces(me, operation)).some((w) => w.id === id)) {
      throw this.error('transient', operation, `Coder answered ${r.ok ? 'deleted' : r.status} for workspace ${id} but still lists it; will look again`, leaseId);
    }
    return null;
  }

  // --- ownership -----------------------------------------------------------------------------

  /**
   * Same deployment and user as recorded, the workspace id is ours, its live name carries this
   * lease's marker and equals the recorded name, its owner is the recorded owner. With
   * `allowGone`, a verified absence returns null instead of throwing `gone`.
   */
  private async verifyOwned(box: BoxIdentity, op: string): Promise<CoderWorkspace>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone: true): Promise<CoderWorkspace | null>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone = false): Promise<CoderWorkspace | null> {
    if (box.provider !== PROVIDER) throw this.error('ownership', op, `box ${box.resourceId} belongs to provider ${box.provider}`, box.leaseId);
    if (!UUID.test(box.resourceId)) throw this.error('ownership', op, `${JSON.stringify(box.resourceId)} is not a Coder workspace id`, box.leaseId);
    const name = String(box.details.name ?? '');
    if (!nameNamesLease(this.config.workspacePrefix, name, box.leaseId)) {
      throw this.error('ownership', op, `workspace ${JSON.stringify(name)} does not carry lease ${box.leaseId}'s name: not touching ${box.resourceId}`, box.leaseId);
    }
    const me = await this.me(op);
    if (me.scope !== box.scope) {
      throw this.error('ownership', op, `lease ${box.leaseId} was created as ${box.scope}; the token now resolves to ${me.scope}: not touching workspace ${name}`, box.leaseId);
    }
    const ws = await this.workspace(box.resourceId, op, me, box.leaseId);
    if (!ws) {
      if (allowGone) return null;
      throw this.error('gone', op, `workspace ${name} (${box.resourceId}) no longer exists`, box.leaseId);
    }
    if (ws.name !== name || (ws.owner_id && ws.owner_id !== box.details.ownerId)) {
      throw this.error('ownership', op, `workspace ${box.resourceId} is now ${ws.owner_name ?? '?'}/${ws.name}, not the recorded ${box.details.ownerName}/${name}: not touching it`, box.leaseId);
    }
    return ws;
  }

  private identity(w: CoderWorkspace, me: Me, leaseId: string): BoxIdentity {
    return {
      provider: PROVIDER,
      leaseId,
      resourceId: w.id,
      scope: me.scope,
      details: {
        name: w.name,
        ownerId: w.owner_id ?? me.id,
        ownerName: w.owner_name ?? me.username,
        templateId: w.template_id ?? '',
        templateName: w.template_name ?? '',
        url: me.url,
        createdAt: w.created_at ?? '',
      },
    };
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
