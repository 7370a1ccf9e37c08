/**
 * The static `ssh` provider: a host that exists already. Nothing is created, stopped or deleted on
 * it; the lease record (a small file in the lease dir) is the only thing create writes and release
 * forgets. Several leases may share the host: each works under `<workRoot>/<leaseId>/`.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { ProviderError } from '../errors.js';
import { runProcess } from '../common/exec.js';
import { ensureTools, waitForSsh } from '../common/ready.js';
import { sshExec } from '../common/remote.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { leaseDir } from '../common/state-dir.js';
import type { SshConfig } from './config.js';

const PROVIDER = 'ssh';
const RECORD = 'static-host.json';

export class SshAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: false, delete: false, resume: true, discover: false };
  readonly defaultReleaseAction = 'keep' as const;

  constructor(private readonly config: SshConfig) {}

  get resourceId(): string {
    return `static_${this.config.host}_${this.config.port}`;
  }

  get scope(): string {
    return `ssh:${this.config.user}@${this.config.host}:${this.config.port}`;
  }

  /** Validates and records; never contacts the host. */
  async create(req: CreateRequest): Promise<BoxIdentity> {
    const box = this.identity(req.leaseId);
    writeFileSync(join(leaseDir(req.leaseId), RECORD), `${JSON.stringify({ ...box, slug: req.slug })}\n`, { mode: 0o600 });
    return box;
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const file = join(leaseDir(lease.leaseId), RECORD);
    if (!existsSync(file)) return [];
    const rec = JSON.parse(readFileSync(file, 'utf8')) as BoxIdentity;
    return rec.leaseId === lease.leaseId && rec.resourceId === this.resourceId && rec.scope === this.scope ? [this.identity(lease.leaseId)] : [];
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    this.verify(box, 'waitReady');
    const base: SshTarget = {
      user: this.config.user,
      host: this.config.host,
      port: this.config.port,
      keyPath: this.config.keyPath,
      hostKeyAlias: hostKeyAliasFor(box.leaseId),
      hostKeys: this.config.hostKey ? [this.config.hostKey] : await userKnownHostKeys(this.config.host, this.config.port),
      workRoot: this.config.workRoot ?? '/',
    };
    let target = await waitForSsh(base, ctx, { timeoutMs: this.config.readyTimeoutMs, skipToolCheck: true });
    if (!this.config.workRoot) target = { ...target, workRoot: await remoteDefaultWorkRoot(target, ctx) };
    await ensureTools(target, ctx);
    return target;
  }

  /** Every action only forgets the record: the host was never ours to stop or delete. */
  async release(box: BoxIdentity, action: ReleaseAction): Promise<ReleaseResult> {
    this.verify(box, 'release');
    rmSync(join(leaseDir(box.leaseId), RECORD), { force: true });
    return { action, alreadyGone: false, note: 'static host: only the local record was forgotten; the host was never touched' };
  }

  /** Reconnect: there is nothing to start. */
  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    return this.waitReady(box, ctx);
  }

  /** Static hosts carry no marker: only lease records prove ownership, so nothing is discoverable. */
  async listOwned(): Promise<OwnedResource[]> {
    return [];
  }

  async doctor(): Promise<DoctorCheck[]> {
    const c = this.config;
    const checks: DoctorCheck[] = [{ name: 'host', ok: true, detail: `${c.user}@${c.host}:${c.port}` }];
    if (existsSync(c.keyPath)) {
      const mode = statSync(c.keyPath).mode & 0o777;
      checks.push({ name: 'key', ok: (mode & 0o077) === 0, detail: `${c.keyPath} mode ${mode.toString(8)}` });
    } else checks.push({ name: 'key', ok: false, detail: `${c.keyPath} not found` });
    const known = c.hostKey ? ['config'] : await userKnownHostKeys(c.host, c.port);
    checks.push({
      name: 'host key',
      ok: true,
      detail: c.hostKey ? 'pinned in config' : known.length ? 'from ~/.ssh/known_hosts' : 'recorded on first use per lease',
    });
    const ssh = await runProcess('ssh', ['-V']).then((r) => r.stderr.trim(), () => '');
    checks.push({ name: 'ssh', ok: !!ssh, detail: ssh || 'ssh not on PATH' });
    checks.push({ name: 'cleanup', ok: true, detail: 'unsupported: the host is never stopped or deleted' });
    return checks;
  }

  private identity(leaseId: string): BoxIdentity {
    return {
      provider: PROVIDER,
      leaseId,
      resourceId: this.resourceId,
      scope: this.scope,
      details: { host: this.config.host, port: this.config.port, user: this.config.user },
    };
  }

  /** The record is the only proof: the config must still name the host the lease recorded. */
  private verify(box: BoxIdentity, operation: string): void {
    if (box.provider !== PROVIDER || box.resourceId !== this.resourceId || box.scope !== this.scope) {
      throw new ProviderError('ownership', `lease ${box.leaseId} recorded ${box.scope}, config now names ${this.scope}`, {
        provider: PROVIDER,
        operation,
        leaseId: box.leaseId,
      });
    }
  }
}

/** Keys the user already trusts for this host (`ssh-keygen -F` handles hashed entries too). */
export async function userKnownHostKeys(host: string, port: number): Promise<string[]> {
  const file = join(homedir(), '.ssh', 'known_hosts');
  if (!existsSync(file)) return [];
  const name = port === 22 ? host : `[${host}]:${port}`;
  const res = await runProcess('ssh-keygen', ['-F', name, '-f', file]);
  if (res.code !== 0) return [];
  return res.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('@'))
    .map((l) => l.trim().split(/\s+/).slice(1, 3).join(' '))
    .filter((k) => /^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/.test(k));
}

async function remoteDefaultWorkRoot(t: SshTarget, ctx: ProgressContext): Promise<string> {
  const res = await sshExec(t, 'printf %s "$HOME"', { signal: ctx.signal, timeoutMs: 30_000 });
  const home = res.stdout.trim();
  if (res.code !== 0 || !home.startsWith('/')) {
    throw new ProviderError('invalid', `cannot resolve $HOME on ${t.host}; set ssh.workRoot`, { provider: PROVIDER, operation: 'waitReady' });
  }
  return `${home.replace(/\/+$/, '')}/.cache/durabox/work`;
}
