/**
 * The embedded `local` provider: each lease is a private sshd on a loopback port, serving
 * `<state>/boxes/<leaseId>/root` as its work root. No isolation from this machine: it exists for
 * hermetic tests, CI and trying durabox without a cloud account.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  BoxIdentity, CreateRequest, DoctorCheck, LeaseRef, OwnedResource, ProgressContext, ProviderAdapter, ReleaseAction,
  ReleaseResult, SshTarget,
} from '../adapter.js';
import { ProviderError } from '../errors.js';
import { runProcess } from '../common/exec.js';
import { waitForSsh } from '../common/ready.js';
import { leaseKeyPath } from '../common/keys.js';
import { hostKeyAliasFor } from '../common/ssh-options.js';
import { ensureStateSubdir, stateDir } from '../common/state-dir.js';
import {
  boxPaths, ensureBoxDirs, localScope, newBoxUid, readBox, recordedBoxDir, resourceIdFor, withBoxLock, writeBox, type BoxPaths, type BoxRecord,
} from './box.js';
import type { LocalConfig } from './config.js';
import {
  addAuthorizedKey, ensureHostKey, findSshd, hostPublicKey, runningSshd, sshdVersion, startSshd, stopSshd, writeAuthorizedKeys,
} from './sshd.js';

const PROVIDER = 'local';

export class LocalAdapter implements ProviderAdapter {
  readonly name = PROVIDER;
  readonly capabilities = { stop: true, delete: true, resume: true, discover: true };
  readonly defaultReleaseAction = 'delete' as const;

  constructor(private readonly config: LocalConfig) {}

  async create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity> {
    const paths = boxPaths(req.leaseId);
    return withBoxLock(paths, async () => {
      let rec = readBox(paths);
      if (rec && rec.leaseId !== req.leaseId) throw this.ownership('create', `box.json in ${paths.dir} names lease ${rec.leaseId}`);
      if (rec && rec.state !== 'creating') return this.identity(rec); // an earlier attempt finished: adopt
      ctx.heartbeat({ phase: 'create' });
      if (!rec) {
        ensureBoxDirs(paths);
        rec = {
          version: 1, leaseId: req.leaseId, slug: req.slug, resourceId: resourceIdFor(req.leaseId), boxUid: newBoxUid(),
          createdAt: new Date().toISOString(), port: 0, state: 'creating', keyPath: req.keyPath, user: userInfo().username,
        };
        writeBox(paths, rec); // the marker first: a crash from here on leaves a box findByLease can see
      }
      ensureBoxDirs(paths);
      await ensureHostKey(paths, req.leaseId);
      writeAuthorizedKeys(paths, req.publicKey);
      const port = await this.start(paths, rec);
      rec = { ...rec, port, state: 'running' };
      writeBox(paths, rec);
      ctx.log(`local box ${rec.resourceId} listening on 127.0.0.1:${port}`);
      return this.identity(rec);
    });
  }

  async findByLease(lease: LeaseRef): Promise<BoxIdentity[]> {
    const rec = readBox(boxPaths(lease.leaseId));
    return rec && rec.leaseId === lease.leaseId ? [this.identity(rec)] : [];
  }

  async waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const paths = this.pathsOf(box);
    const rec = await withBoxLock(paths, async () => {
      const r = this.verifyOwned(box, paths, 'waitReady');
      if (r.state === 'stopped') throw new ProviderError('conflict', `box ${r.resourceId} is stopped; resume it`, this.opts('waitReady'));
      // The machine rebooted or sshd died: bring the same box back (same host key); never a new one.
      return runningSshd(paths) ? r : this.restart(paths, r);
    });
    return waitForSsh(this.target(paths, rec), ctx, { timeoutMs: this.config.readyTimeoutMs });
  }

  async release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult> {
    const paths = this.pathsOf(box);
    this.checkScope(box, 'release');
    if (!existsSync(paths.dir)) {
      await sleep(200); // look twice: a concurrent create may be between mkdir and marker
      if (!existsSync(paths.dir)) return { action, alreadyGone: true, note: 'box directory absent' };
    }
    return withBoxLock(paths, async () => {
      const rec = this.verifyOwned(box, paths, 'release');
      if (action === 'keep') return { action, alreadyGone: false, note: 'box left running' };
      ctx.heartbeat({ phase: 'release', action });
      await stopSshd(paths);
      if (action === 'stop') {
        writeBox(paths, { ...rec, state: 'stopped' });
        return { action, alreadyGone: false };
      }
      // Rename first (atomic): a crash mid-delete leaves trash, never a half-deleted box with no marker.
      const trash = join(dirname(paths.dir), `.trash-${rec.leaseId}-${rec.boxUid}`);
      renameSync(paths.dir, trash);
      rmSync(trash, { recursive: true, force: true });
      return { action, alreadyGone: false };
    });
  }

  async resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget> {
    const paths = this.pathsOf(box);
    this.checkScope(box, 'resume');
    const rec = await withBoxLock(paths, async () => {
      const r = this.verifyOwned(box, paths, 'resume');
      return runningSshd(paths) && r.state === 'running' ? r : this.restart(paths, r);
    });
    return waitForSsh(this.target(paths, rec), ctx, { timeoutMs: this.config.readyTimeoutMs });
  }

  async listOwned(): Promise<OwnedResource[]> {
    const root = ensureStateSubdir('boxes');
    const out: OwnedResource[] = [];
    for (const name of readdirSync(root)) {
      if (name.startsWith('.')) continue;
      try {
        const paths = boxPaths(name);
        const rec = readBox(paths);
        if (!rec) continue;
        const state = rec.state === 'running' && !runningSshd(paths) ? 'crashed' : rec.state;
        out.push({ resourceId: rec.resourceId, leaseId: rec.leaseId, state, createdAt: rec.createdAt });
      } catch {
        /* not a box of ours (unsafe name or foreign marker): listed by nobody */
      }
    }
    return out;
  }

  async doctor(): Promise<DoctorCheck[]> {
    const checks: DoctorCheck[] = [];
    let sshd: string | undefined;
    try {
      sshd = findSshd(this.config.sshdPath);
      checks.push({ name: 'sshd', ok: existsSync(sshd), detail: sshd });
      checks.push({ name: 'sshd version', ok: true, detail: await sshdVersion(sshd) });
    } catch (e) {
      checks.push({ name: 'sshd', ok: false, detail: (e as Error).message });
    }
    if (process.getuid?.() === 0) {
      checks.push({ name: '/run/sshd', ok: existsSync('/run/sshd') || existsSync('/run'), detail: existsSync('/run/sshd') ? 'present' : 'created on first start' });
    }
    for (const [name, args] of [['ssh-keygen', ['-?']], ['ssh', ['-V']], ['rsync', ['--version']]] as const) {
      const found = await runProcess(name, [...args]).then(() => true, () => false);
      checks.push({ name, ok: found, detail: found ? 'found' : `${name} not on PATH` });
    }
    checks.push({ name: 'boxes', ok: true, detail: `${(await this.listOwned()).length} in ${join(stateDir(), 'boxes')}` });
    return checks;
  }

  // --- helpers -------------------------------------------------------------------------------

  private async start(paths: BoxPaths, rec: BoxRecord): Promise<number> {
    if (runningSshd(paths) && rec.port) return rec.port;
    return startSshd(paths, {
      sshdPath: findSshd(this.config.sshdPath),
      user: rec.user,
      port: rec.port || undefined,
      startTimeoutMs: this.config.startTimeoutMs,
    });
  }

  private async restart(paths: BoxPaths, rec: BoxRecord): Promise<BoxRecord> {
    if (!existsSync(paths.hostKey) || !existsSync(paths.authorizedKeys)) {
      throw new ProviderError('conflict', `box ${rec.resourceId} was never fully created; release it`, this.opts('start'));
    }
    const port = await this.start(paths, rec);
    const next: BoxRecord = { ...rec, port, state: 'running' };
    writeBox(paths, next);
    return next;
  }

  private target(paths: BoxPaths, rec: BoxRecord): SshTarget {
    return {
      user: rec.user,
      host: '127.0.0.1',
      port: rec.port,
      // This worker's copy of the lease key: the creator's key stays on the creator's disk.
      keyPath: leaseKeyPath(rec.leaseId),
      hostKeyAlias: hostKeyAliasFor(rec.leaseId),
      hostKeys: [hostPublicKey(paths)], // published by the provider: pinned before the first connect
      workRoot: paths.root,
    };
  }

  private identity(rec: BoxRecord, dir?: string): BoxIdentity {
    return {
      provider: PROVIDER,
      leaseId: rec.leaseId,
      resourceId: rec.resourceId,
      scope: localScope(),
      details: { port: rec.port, boxUid: rec.boxUid, slug: rec.slug, boxDir: dir ?? boxPaths(rec.leaseId).dir },
    };
  }

  private pathsOf(box: BoxIdentity): BoxPaths {
    return boxPaths(box.leaseId, recordedBoxDir(box.leaseId, box.details.boxDir));
  }

  /**
   * Let this worker's per-lease key in (a fleet worker taking over a lease whose creator is gone).
   * Same machine only: the scope check refuses a box recorded elsewhere.
   */
  async authorize(box: BoxIdentity, publicKey: string, _ctx: ProgressContext): Promise<void> {
    const paths = this.pathsOf(box);
    await withBoxLock(paths, async () => {
      this.verifyOwned(box, paths, 'authorize');
      addAuthorizedKey(paths, publicKey);
    });
  }

  private checkScope(box: BoxIdentity, op: string): void {
    if (box.provider !== PROVIDER || box.scope !== localScope()) {
      throw this.ownership(op, `box ${box.resourceId} was recorded in ${box.scope}, this worker is ${localScope()}`);
    }
  }

  /** Marker names this lease, resource id and per-box uid match the record: else never mutate. */
  private verifyOwned(box: BoxIdentity, paths: BoxPaths, op: string): BoxRecord {
    this.checkScope(box, op);
    const rec = readBox(paths);
    if (!rec) {
      if (!existsSync(paths.dir)) throw new ProviderError('gone', `box ${box.resourceId} no longer exists`, this.opts(op, box.leaseId));
      throw this.ownership(op, `${paths.dir} has no box.json; not touching it`);
    }
    if (rec.leaseId !== box.leaseId || rec.resourceId !== box.resourceId) {
      throw this.ownership(op, `${paths.json} names lease ${rec.leaseId} (${rec.resourceId}), not ${box.leaseId} (${box.resourceId})`);
    }
    if (box.details.boxUid !== undefined && box.details.boxUid !== rec.boxUid) {
      throw this.ownership(op, `box ${rec.resourceId} was re-created since this lease recorded it`);
    }
    return rec;
  }

  private ownership(op: string, msg: string): ProviderError {
    return new ProviderError('ownership', msg, this.opts(op));
  }

  private opts(operation: string, leaseId?: string) {
    return { provider: PROVIDER, operation, leaseId };
  }
}
