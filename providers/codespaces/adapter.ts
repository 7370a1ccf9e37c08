/**
 * The `codespaces` provider: GitHub Codespaces over REST, SSH through `gh codespace ssh --stdio`
 * (providers.md 2.2).
 *
 * - create: account → findByLease (adopt one) → machine preflight → pending record (nonce) → POST
 *   with a display name derived from the lease id. An ambiguous POST (transport error, 408, 409,
 *   425, 429, 5xx) looks for exactly one codespace with that display name in the repository over a
 *   grace window; never a blind second POST.
 * - waitReady: poll until Available (start a Shutdown one; fail on Failed/Unavailable/Deleted/
 *   Archived/Moved), then `gh codespace ssh --config` for user and identity, our own ProxyCommand,
 *   per-lease known_hosts and HostKeyAlias, the host key pinned at first contact, the tool check,
 *   and the workspace folder.
 * - release: the live codespace must equal the lease record (name, id, environment id, owner,
 *   repository, display name) under the same account. stop = POST stop until Shutdown. delete =
 *   read git_status first: uncommitted or unpushed changes, commits ahead, or no git status turn it
 *   into a stop (ReleaseResult.action says so); else stop → revalidate → DELETE → poll until 404.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { abortError } from '../common/exec.js';
import { waitForSsh } from '../common/ready.js';
import { shellQuote, sshExec } from '../common/remote.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { isProviderError, ProviderError, type ProviderErrorKind } from '../errors.js';
import { envTokenName, GitHubApi, PROVIDER, redact, TokenProvider, type Token } from './api.js';
import { ghHostFor, type CodespacesConfig } from './config.js';
import { ghSshConfig, proxyArgv, resolveGh } from './gh.js';
import { allRecords, displayNameFor, displayNames, readRecord, removeRecord, writeRecord, type CodespacesRecord } from './record.js';
import {
  AnySchema, CodespaceListSchema, CodespaceSchema, MachinesSchema, STOPPED_STATES, TERMINAL_STATES, UserSchema, type Codespace,
  type GitHubUser,
} from './schemas.js';
import { randomBytes } from 'node:crypto';

interface Account {
  user: GitHubUser;
  scope: string;
  /** `X-OAuth-Scopes` when GitHub sent it (classic and OAuth tokens). */
  scopes?: string[];
}

export class CodespacesAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: true, delete: true, resume: true, discover: false };
  readonly defaultReleaseAction: ReleaseAction;
  readonly api: GitHubApi;
  readonly ghHost: string;
  private readonly tokens: TokenProvider;

  constructor(private readonly config: CodespacesConfig) {
    this.defaultReleaseAction = config.releaseAction;
    this.ghHost = ghHostFor(config.apiUrl);
    this.tokens = new TokenProvider(config.ghPath, this.ghHost);
    this.api = new GitHubApi(config.apiUrl, this.tokens, { timeoutMs: config.requestTimeoutMs });
  }

  // --- verbs ---------------------------------------------------------------------------------

  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    const account = await this.account('create');
    const repo = this.repo('create', req.leaseId);
    const lease = { leaseId: req.leaseId, slug: req.slug };
    const existing = await this.findCodespaces(lease, account, repo);
    if (existing.length > 1) throw this.tooMany(existing, req.leaseId, 'create');
    if (existing.length === 1) {
      ctx.log(`codespaces: adopting ${existing[0]!.name}, which already carries lease ${req.leaseId}'s display name`);
      return this.adopt(existing[0]!, account, lease);
    }
    const machine = await this.pickMachine(repo, req.leaseId);
    const displayName = displayNameFor(req.leaseId, req.slug);
    const prior = readRecord(req.leaseId);
    const rec: CodespacesRecord = {
      version: 1, leaseId: req.leaseId, slug: req.slug, scope: account.scope, repo, displayName,
      nonce: prior?.nonce ?? randomBytes(16).toString('hex'), state: 'pre-create', at: new Date().toISOString(),
    };
    writeRecord(rec);
    const c = this.config;
    const body: Record<string, unknown> = {
      machine,
      display_name: displayName,
      idle_timeout_minutes: c.idleTimeout,
      retention_period_minutes: c.retentionPeriod,
    };
    if (c.ref) body.ref = c.ref;
    if (c.devcontainerPath) body.devcontainer_path = c.devcontainerPath;
    if (c.geo) body.geo = c.geo;
    ctx.heartbeat({ phase: 'create', machine });
    ctx.log(`codespaces: creating ${displayName} in ${repo} (${machine})`);
    let created: Codespace;
    try {
      const r = await this.api.call({ method: 'POST', path: `/repos/${repo}/codespaces`, body, schema: CodespaceSchema, operation: 'create', leaseId: req.leaseId, creates: true });
      if (!r.ok) throw this.error('invalid', 'create', `create answered ${r.status}`, req.leaseId);
      created = r.data;
    } catch (e) {
      if (!isProviderError(e) || e.kind !== 'ambiguous') throw e;
      writeRecord({ ...rec, state: 'ambiguous' });
      ctx.log(`codespaces: the create may have succeeded (${e.message}); looking for ${displayName} in ${repo}`);
      const found = await this.lookAfterAmbiguous(lease, account, repo, ctx);
      if (!found) throw e;
      ctx.log(`codespaces: the ambiguous create did make ${found.name}; adopting it`);
      created = found;
    }
    if (created.display_name !== displayName || created.repository.full_name.toLowerCase() !== repo.toLowerCase() || created.owner.id !== account.user.id) {
      throw this.error('ownership', 'create', `GitHub answered the create with ${created.name} (${created.display_name ?? 'no display name'} in ${created.repository.full_name}), which is not the codespace asked for`, req.leaseId);
    }
    if (!created.retention_period_minutes) {
      ctx.log(`codespaces: warning: ${created.name} has a retention period of ${created.retention_period_minutes ?? 'null'}; GitHub may delete it as soon as it stops`);
    }
    return this.adopt(created, account, lease);
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const account = await this.account('findByLease');
    const repo = this.repo('findByLease', lease.leaseId);
    const found = await this.findCodespaces(lease, account, repo);
    return found.map((cs) => this.identity(cs, account, lease.leaseId, readRecord(lease.leaseId)?.slug ?? lease.slug));
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    await this.verifyOwned(box, 'waitReady');
    return this.waitReadyInner(box, ctx);
  }

  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const cs = await this.verifyOwned(box, 'resume');
    if (cs.state !== 'Available') await this.start(cs, box.leaseId, ctx);
    return this.waitReadyInner(box, ctx);
  }

  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    if (action === 'keep') return { action, alreadyGone: false, note: `codespace ${box.resourceId} left as it is (GitHub stops it after the idle timeout)` };
    ctx.heartbeat({ phase: 'release', action });
    const cs = await this.verifyOwned(box, 'release', true);
    if (!cs) {
      forgetRecord(box);
      return { action, alreadyGone: true, note: `codespace ${box.resourceId} no longer exists` };
    }
    if (action === 'stop') {
      await this.stop(cs, box.leaseId, ctx);
      return { action: 'stop', alreadyGone: false, note: `codespace ${cs.name} stopped; GitHub deletes it ${retentionText(cs)} unless it is started again` };
    }
    const dirty = dirtyReason(cs);
    if (dirty) {
      await this.stop(cs, box.leaseId, ctx);
      return { action: 'stop', alreadyGone: false, note: `not deleted: codespace ${cs.name} ${dirty}; stopped instead and kept (GitHub deletes it ${retentionText(cs)})` };
    }
    await this.stop(cs, box.leaseId, ctx);
    // Revalidate between the stop and the delete (providers.md 1.6), and read git_status again.
    const again = await this.verifyOwned(box, 'release', true);
    if (!again) {
      forgetRecord(box);
      return { action, alreadyGone: true, note: `codespace ${box.resourceId} disappeared during release` };
    }
    const dirtyNow = dirtyReason(again);
    if (dirtyNow) return { action: 'stop', alreadyGone: false, note: `not deleted: codespace ${again.name} ${dirtyNow}; stopped and kept` };
    ctx.log(`codespaces: deleting ${again.name}`);
    const r = await this.api.call({ method: 'DELETE', path: `/user/codespaces/${again.name}`, schema: AnySchema, operation: 'release', leaseId: box.leaseId, retries: 3, allow: [304, 404] });
    if (!r.ok && r.status === 404 && (await this.getCodespace(again.name, 'release', box.leaseId)) !== null) {
      throw this.error('transient', 'release', `DELETE of ${again.name} said 404 but the codespace still exists`, box.leaseId);
    }
    const gone = await this.waitUntil(again.name, box.leaseId, (c) => c === null, this.config.deleteTimeoutMs, ctx, 'delete');
    if (!gone) throw this.error('transient', 'release', `codespace ${again.name} still exists ${Math.round(this.config.deleteTimeoutMs / 1000)} s after DELETE; will look again`, box.leaseId);
    forgetRecord(box);
    return { action: 'delete', alreadyGone: false };
  }

  /** Codespaces this worker holds a record for, and that still match it. Nothing else is ours. */
  async listOwned(): Promise<OwnedResource[]> {
    const account = await this.account('listOwned');
    const out: OwnedResource[] = [];
    for (const rec of allRecords()) {
      if (!rec.name || rec.scope !== account.scope) continue;
      const cs = await this.getCodespace(rec.name, 'listOwned', rec.leaseId);
      if (!cs || this.mismatch(cs, recordDetails(rec), rec.leaseId)) continue;
      out.push({ resourceId: cs.name, leaseId: rec.leaseId, state: cs.state, createdAt: cs.created_at });
    }
    return out;
  }

  /** Read-only: gh, token source, account and scopes, machines for the repo, inventory, stranded records. */
  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const checks: DoctorCheck[] = [];
    const gh = resolveGh(c.ghPath);
    checks.push({ name: 'gh', ok: !!gh, detail: gh ? `${gh} (needed for SSH: gh codespace ssh --stdio)` : `${c.ghPath} not found on PATH (install GitHub CLI; SSH goes through it)` });
    const envName = envTokenName();
    checks.push({ name: 'token source', ok: true, detail: envName ? `${envName} is set` : `GH_TOKEN/GITHUB_TOKEN not set; using \`gh auth token --hostname ${this.ghHost}\`` });
    checks.push({ name: 'endpoint', ok: true, detail: `${c.apiUrl} (gh host ${this.ghHost})` });
    let account: Account | undefined;
    try {
      account = await this.account('doctor', false);
      const scopeOk = !account.scopes || account.scopes.includes('codespace');
      checks.push({ name: 'account', ok: true, detail: `${account.user.login} (id ${account.user.id})` });
      checks.push({
        name: 'scopes',
        ok: scopeOk,
        detail: account.scopes ? `${account.scopes.join(', ') || '(none)'}${scopeOk ? '' : ' — missing codespace: gh auth refresh -s codespace'}` : 'no X-OAuth-Scopes (fine-grained token: needs Codespaces read/write)',
      });
    } catch (e) {
      checks.push({ name: 'account', ok: false, detail: (e as Error).message });
    }
    if (account && c.repo) {
      try {
        const m = await this.machines(c.repo, 'doctor');
        const names = m.map((x) => x.name);
        const machineOk = !c.machine || names.includes(c.machine);
        checks.push({ name: 'machines', ok: names.length > 0 && machineOk, detail: `${c.repo}: ${names.join(', ') || 'none available'}${machineOk ? '' : `; configured ${c.machine} is not among them`}` });
      } catch (e) {
        checks.push({ name: 'machines', ok: false, detail: (e as Error).message });
      }
    } else if (!c.repo) {
      checks.push({ name: 'machines', ok: false, detail: 'no repository: pass --repo owner/name or run from a checkout whose origin is on github.com' });
    }
    if (account) {
      try {
        const all = await this.listCodespaces('doctor');
        const recs = allRecords().filter((r) => r.scope === account!.scope);
        const owned = recs.filter((r) => r.name && all.some((cs) => cs.name === r.name)).length;
        checks.push({ name: 'codespaces', ok: true, detail: `${all.length} total for ${account.user.login}, ${owned} owned by durabox leases on this worker` });
        const stranded = recs.filter((r) => r.state !== 'created');
        checks.push({ name: 'pending records', ok: stranded.length === 0, detail: stranded.length ? `${stranded.map((r) => `${r.leaseId} (${r.state}, ${r.displayName})`).join(', ')}: a create never finished; release the lease to clean up` : 'none' });
      } catch (e) {
        checks.push({ name: 'codespaces', ok: false, detail: (e as Error).message });
      }
    }
    checks.push({
      name: 'settings',
      ok: true,
      detail: `release default ${c.releaseAction} (a dirty codespace is stopped, not deleted); machine ${c.machine ?? 'auto'}; idle ${c.idleTimeout} min; retention ${c.retentionPeriod} min; workRoot ${c.workRoot}`,
    });
    return checks;
  }

  // --- ready ---------------------------------------------------------------------------------

  private async waitReadyInner(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const name = box.resourceId;
    const deadline = Date.now() + this.config.readyTimeoutMs;
    let started = false;
    let cs: Codespace | null;
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal.aborted) throw abortError(ctx.signal);
      cs = await this.getCodespace(name, 'waitReady', box.leaseId);
      if (!cs) throw this.error('gone', 'waitReady', `codespace ${name} no longer exists`, box.leaseId);
      const why = this.mismatch(cs, box.details, box.leaseId);
      if (why) throw this.error('ownership', 'waitReady', `codespace ${name} ${why}: not touching it`, box.leaseId);
      ctx.heartbeat({ phase: 'codespace-wait', state: cs.state, attempt });
      if (cs.state === 'Available') break;
      if (TERMINAL_STATES.has(cs.state)) {
        const kind: ProviderErrorKind = cs.state === 'Deleted' ? 'gone' : 'capacity';
        throw this.error(kind, 'waitReady', `codespace ${name} is ${cs.state}${cs.last_known_stop_notice ? ` (${cs.last_known_stop_notice.slice(0, 200)})` : ''} and will not become Available`, box.leaseId);
      }
      if (cs.state === 'Shutdown' && !started) {
        await this.start(cs, box.leaseId, ctx);
        started = true;
      }
      if (Date.now() > deadline) {
        throw this.error('not-ready', 'waitReady', `codespace ${name} not Available after ${Math.round(this.config.readyTimeoutMs / 1000)} s (state ${cs.state})`, box.leaseId);
      }
      await this.pause(this.config.pollIntervalMs, ctx);
    }
    const gh = resolveGh(this.config.ghPath);
    if (!gh) throw this.error('invalid', 'waitReady', `${this.config.ghPath} not found on PATH: SSH to a codespace goes through the GitHub CLI`, box.leaseId);
    const token = await this.tokens.get('waitReady');
    const block = await ghSshConfig(gh, this.ghHost, name, token, ctx.signal);
    const target: SshTarget = {
      user: block.user,
      host: `cs.${name}`,
      port: 22,
      keyPath: block.identityPath,
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      hostKeys: [], // pinned at first contact, per lease; never gh's StrictHostKeyChecking=no
      proxyCommand: this.ghHost === 'github.com' ? proxyArgv(gh, name, block.identityPath) : ['/usr/bin/env', `GH_HOST=${this.ghHost}`, ...proxyArgv(gh, name, block.identityPath)],
      ...proxyEnvFor(token),
      workRoot: this.config.workRoot,
    };
    const ready = await waitForSsh(target, ctx, { timeoutMs: this.config.sshTimeoutMs });
    const folder = `${this.config.workspacesRoot.replace(/\/+$/, '')}/${cs!.repository.full_name.split('/')[1]}`;
    const check = await sshExec(ready, `test -d ${shellQuote(folder)}`, { signal: ctx.signal, timeoutMs: 60_000 });
    if (check.code !== 0) throw this.error('invalid', 'waitReady', `codespace ${name} has no workspace folder ${folder}`, box.leaseId);
    return ready;
  }

  // --- lifecycle calls -----------------------------------------------------------------------

  private async start(cs: Codespace, leaseId: string, ctx: ProgressContext): Promise<void> {
    ctx.log(`codespaces: starting ${cs.name} (${cs.state})`);
    const r = await this.api.call({ method: 'POST', path: `/user/codespaces/${cs.name}/start`, schema: AnySchema, operation: 'start', leaseId, retries: 3, allow: [304, 409] });
    if (!r.ok && r.status === 409) ctx.log(`codespaces: start of ${cs.name} answered 409 (${r.message}); waiting`);
  }

  /** POST stop (200, or 304 = already stopped) and wait for Shutdown. */
  private async stop(cs: Codespace, leaseId: string, ctx: ProgressContext): Promise<void> {
    if (cs.state !== 'Shutdown') {
      ctx.log(`codespaces: stopping ${cs.name}`);
      await this.api.call({ method: 'POST', path: `/user/codespaces/${cs.name}/stop`, schema: AnySchema, operation: 'stop', leaseId, retries: 3, allow: [304] });
    }
    const ok = await this.waitUntil(cs.name, leaseId, (c) => c === null || c.state === 'Shutdown' || TERMINAL_STATES.has(c.state), 2 * 60_000, ctx, 'stop');
    if (!ok) throw this.error('transient', 'stop', `codespace ${cs.name} not Shutdown 120 s after stop`, leaseId);
  }

  // --- lookups -------------------------------------------------------------------------------

  private async account(operation: string, requireScope = true): Promise<Account> {
    const r = await this.api.call({ method: 'GET', path: '/user', schema: UserSchema, operation, retries: 3 });
    if (!r.ok) throw this.error('auth', operation, `GET /user answered ${r.status}`);
    const raw = r.headers['x-oauth-scopes'];
    const scopes = raw === undefined ? undefined : String(raw).split(',').map((s) => s.trim()).filter(Boolean);
    if (requireScope && scopes && !scopes.includes('codespace')) {
      throw this.error('auth', operation, `the GitHub token for ${r.data.login} lacks the codespace scope (has: ${scopes.join(', ') || 'none'}); run gh auth refresh -h ${this.ghHost} -s codespace or use a token with it`);
    }
    return { user: r.data, scope: `${this.config.apiUrl}#${r.data.id}`, scopes };
  }

  private repo(operation: string, leaseId?: string): string {
    if (!this.config.repo) throw this.error('invalid', operation, 'no repository for the codespace: pass --repo owner/name or run from a checkout whose origin remote is on github.com', leaseId);
    return this.config.repo;
  }

  private async machines(repo: string, operation: string) {
    const query: Record<string, string> = {};
    if (this.config.ref) query.ref = this.config.ref;
    return (await this.api.get({ path: `/repos/${repo}/codespaces/machines`, query, schema: MachinesSchema, operation })).machines;
  }

  private async pickMachine(repo: string, leaseId: string): Promise<string> {
    const names = (await this.machines(repo, 'create')).map((m) => m.name);
    const want = this.config.machine;
    if (want) {
      if (!names.includes(want)) throw this.error('invalid', 'create', `machine ${want} is not available for ${repo} (available: ${names.join(', ') || 'none'})`, leaseId);
      return want;
    }
    if (names.length === 0) throw this.error('capacity', 'create', `GitHub offers no codespace machines for ${repo} (org policy or spending limit?)`, leaseId);
    return names.includes('basicLinux32gb') ? 'basicLinux32gb' : names[0]!;
  }

  private async listCodespaces(operation: string): Promise<Codespace[]> {
    return this.api.paginate({ path: '/user/codespaces', query: { per_page: '100' }, schema: CodespaceListSchema, operation }, (p) => p.codespaces);
  }

  /** Codespaces in this repo, owned by this account, whose display name names this lease (and, with a record, its name). */
  private async findCodespaces(lease: LeaseRef, account: Account, repo: string): Promise<Codespace[]> {
    const rec = readRecord(lease.leaseId);
    return (await this.listCodespaces('findByLease')).filter(
      (cs) =>
        displayNames(cs.display_name, lease.leaseId) &&
        cs.repository.full_name.toLowerCase() === repo.toLowerCase() &&
        cs.owner.id === account.user.id &&
        !TERMINAL_STATES.has(cs.state) &&
        (!rec?.name || rec.scope !== account.scope || rec.name === cs.name),
    );
  }

  private async lookAfterAmbiguous(lease: LeaseRef, account: Account, repo: string, ctx: ProgressContext): Promise<Codespace | undefined> {
    const deadline = Date.now() + this.config.createGraceMs;
    for (let i = 1; ; i++) {
      ctx.heartbeat({ phase: 'ambiguous-create', lookup: i });
      const found = await this.findCodespaces(lease, account, repo).catch(() => undefined);
      if (found && found.length > 1) throw this.tooMany(found, lease.leaseId, 'create');
      if (found?.length === 1) return found[0];
      if (Date.now() >= deadline) return undefined;
      await this.pause(Math.min(2_000, Math.max(10, deadline - Date.now())), ctx);
    }
  }

  /** `null` when GitHub says the codespace does not exist (404). */
  private async getCodespace(name: string, operation: string, leaseId?: string): Promise<Codespace | null> {
    const r = await this.api.call({ method: 'GET', path: `/user/codespaces/${name}`, schema: CodespaceSchema, operation, leaseId, retries: 3, allow: [404] });
    if (!r.ok) return null;
    if (r.data.name !== name) throw this.error('invalid', operation, `asked GitHub for codespace ${name}, got ${r.data.name}`, leaseId);
    return r.data;
  }

  private async waitUntil(name: string, leaseId: string, done: (c: Codespace | null) => boolean, limitMs: number, ctx: ProgressContext, phase: string): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      ctx.heartbeat({ phase });
      if (done(await this.getCodespace(name, phase, leaseId))) return true;
      if (Date.now() > deadline) return false;
      await this.pause(this.config.pollIntervalMs, ctx);
    }
  }

  // --- ownership -----------------------------------------------------------------------------

  /** Why the live codespace is not the one recorded (undefined when it is). */
  private mismatch(cs: Codespace, d: BoxIdentity['details'], leaseId: string): string | undefined {
    if (d.name !== undefined && cs.name !== d.name) return `is named ${cs.name}, not ${String(d.name)}`;
    if (d.codespaceId !== undefined && cs.id !== d.codespaceId) return `has id ${cs.id}, not the recorded ${String(d.codespaceId)}`;
    if (d.environmentId && cs.environment_id && cs.environment_id !== d.environmentId) return `has environment ${cs.environment_id}, not the recorded ${String(d.environmentId)}`;
    if (d.ownerId !== undefined && cs.owner.id !== d.ownerId) return `belongs to ${cs.owner.login} (${cs.owner.id}), not the recorded owner ${String(d.ownerId)}`;
    if (d.repositoryId !== undefined && cs.repository.id !== d.repositoryId) return `is in repository ${cs.repository.full_name} (${cs.repository.id}), not the recorded ${String(d.repositoryId)}`;
    if (!displayNames(cs.display_name, leaseId)) return `has display name ${JSON.stringify(cs.display_name ?? null)}, which does not name lease ${leaseId}`;
    if (d.displayName !== undefined && cs.display_name !== d.displayName) return `has display name ${JSON.stringify(cs.display_name)}, not the recorded ${String(d.displayName)}`;
    return undefined;
  }

  /**
   * Same API endpoint and account as recorded, and the live codespace equals the record. With
   * `allowGone`, a verified absence (404 on a direct lookup by name) returns null.
   */
  private async verifyOwned(box: BoxIdentity, op: string): Promise<Codespace>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone: true): Promise<Codespace | null>;
  private async verifyOwned(box: BoxIdentity, op: string, allowGone = false): Promise<Codespace | null> {
    if (box.provider !== PROVIDER) throw this.error('ownership', op, `box ${box.resourceId} belongs to provider ${box.provider}`, box.leaseId);
    const d = box.details;
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/.test(box.resourceId) || d.name !== box.resourceId || typeof d.codespaceId !== 'number' || typeof d.ownerId !== 'number' || typeof d.repositoryId !== 'number') {
      throw this.error('ownership', op, `lease ${box.leaseId} has no complete codespace record for ${JSON.stringify(box.resourceId)}: not touching it`, box.leaseId);
    }
    const account = await this.account(op);
    if (account.scope !== box.scope) {
      throw this.error('ownership', op, `lease ${box.leaseId} was created as ${box.scope}; the token now resolves to ${account.scope}: not touching codespace ${box.resourceId}`, box.leaseId);
    }
    const cs = await this.getCodespace(box.resourceId, op, box.leaseId);
    if (!cs) {
      if (allowGone) return null;
      throw this.error('gone', op, `codespace ${box.resourceId} no longer exists`, box.leaseId);
    }
    const why = this.mismatch(cs, d, box.leaseId);
    if (why) throw this.error('ownership', op, `codespace ${cs.name} ${why}: not touching it`, box.leaseId);
    return cs;
  }

  private tooMany(found: Codespace[], leaseId: string, op: string): ProviderError {
    return this.error('ownership', op, `codespaces ${found.map((c) => c.name).join(', ')} all carry lease ${leaseId}'s display name; touching none`, leaseId);
  }

  // --- identity ------------------------------------------------------------------------------

  /** Record the codespace as this lease's (worker record + identity). */
  private adopt(cs: Codespace, account: Account, lease: LeaseRef): BoxIdentity {
    const prior = readRecord(lease.leaseId);
    const slug = prior?.slug ?? lease.slug;
    writeRecord({
      version: 1, leaseId: lease.leaseId, slug, scope: account.scope, repo: cs.repository.full_name,
      displayName: cs.display_name ?? '', nonce: prior?.nonce ?? randomBytes(16).toString('hex'), state: 'created', at: prior?.at ?? new Date().toISOString(),
      name: cs.name, id: cs.id, environmentId: cs.environment_id ?? undefined, ownerId: cs.owner.id, repositoryId: cs.repository.id,
    });
    return this.identity(cs, account, lease.leaseId, slug);
  }

  private identity(cs: Codespace, account: Account, leaseId: string, slug: string): BoxIdentity {
    const details: BoxIdentity['details'] = {
      slug,
      name: cs.name,
      codespaceId: cs.id,
      environmentId: cs.environment_id ?? '',
      ownerId: cs.owner.id,
      ownerLogin: cs.owner.login,
      repositoryId: cs.repository.id,
      repository: cs.repository.full_name,
      displayName: cs.display_name ?? '',
      apiUrl: this.config.apiUrl,
      userId: account.user.id,
      login: account.user.login,
      createdAt: cs.created_at ?? '',
    };
    if (cs.machine?.name) details.machine = cs.machine.name;
    return { provider: PROVIDER, leaseId, resourceId: cs.name, scope: account.scope, details };
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

/** Why deleting would lose work, or undefined when git_status says it would not. */
export function dirtyReason(cs: Codespace): string | undefined {
  const g = cs.git_status;
  if (!g || (g.has_uncommitted_changes === undefined && g.has_unpushed_changes === undefined)) return 'reports no git status (cannot tell whether work would be lost)';
  const reasons: string[] = [];
  if (g.has_uncommitted_changes) reasons.push('uncommitted changes');
  if (g.has_unpushed_changes) reasons.push('unpushed changes');
  if ((g.ahead ?? 0) > 0) reasons.push(`${g.ahead} commit${g.ahead === 1 ? '' : 's'} ahead of the remote`);
  return reasons.length ? `has ${reasons.join(', ')}${g.ref ? ` on ${g.ref}` : ''}` : undefined;
}

/** Drop the worker record only when it is the record of this very codespace (a forged identity must not erase ours). */
function forgetRecord(box: BoxIdentity): void {
  const rec = readRecord(box.leaseId);
  if (rec && (!rec.name || rec.name === box.resourceId)) removeRecord(box.leaseId);
}

function retentionText(cs: Codespace): string {
  const m = cs.retention_period_minutes;
  return m ? `${m} minutes after it stopped` : 'per its retention period';
}

function recordDetails(rec: CodespacesRecord): BoxIdentity['details'] {
  const d: BoxIdentity['details'] = { name: rec.name ?? '', displayName: rec.displayName };
  if (rec.id !== undefined) d.codespaceId = rec.id;
  if (rec.environmentId) d.environmentId = rec.environmentId;
  if (rec.ownerId !== undefined) d.ownerId = rec.ownerId;
  if (rec.repositoryId !== undefined) d.repositoryId = rec.repositoryId;
  return d;
}

/** The ProxyCommand (gh) needs the token the worker uses, by variable name only; gh's own store needs nothing. */
function proxyEnvFor(token: Token): Pick<SshTarget, 'proxyEnv'> {
  return token.source.kind === 'env' ? { proxyEnv: [token.source.name] } : {};
}
