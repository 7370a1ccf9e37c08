/**
 * The local box on disk and its ownership marker `box.json`. One box per lease, at
 * `<state>/boxes/<leaseId>/`: `etc/` (sshd config, host key, authorized_keys), `root/` (the work
 * root), `sshd.pid`, `sshd.log`, `box.json`.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ProviderError } from '../errors.js';
import { boxDir, ensureStateSubdir, safeSegment, stateDir } from '../common/state-dir.js';

export const BoxRecordSchema = z.object({
  version: z.literal(1),
  leaseId: z.string(),
  slug: z.string(),
  resourceId: z.string(),
  /** Random per box: a box re-created for the same lease is a different resource. */
  boxUid: z.string(),
  createdAt: z.string(),
  port: z.number().int(),
  state: z.enum(['creating', 'running', 'stopped']),
  /** The lease key on this worker (a path; the bytes stay in the lease dir). */
  keyPath: z.string(),
  user: z.string(),
});
export type BoxRecord = z.infer<typeof BoxRecordSchema>;

/**
 * Paths of a lease's box. `dir` is the recorded box directory when another worker on this machine
 * (its own state dir) created the box; by default it is this worker's `<state>/boxes/<leaseId>`.
 */
export function boxPaths(leaseId: string, dir: string = boxDir(leaseId)) {
  const etc = join(dir, 'etc');
  return {
    dir,
    etc,
    root: join(dir, 'root'),
    json: join(dir, 'box.json'),
    config: join(etc, 'sshd_config'),
    hostKey: join(etc, 'ssh_host_ed25519_key'),
    authorizedKeys: join(etc, 'authorized_keys'),
    pidFile: join(dir, 'sshd.pid'),
    log: join(dir, 'sshd.log'),
    lock: join(dirname(dir), `.${safeSegment(leaseId)}.lock`),
  };
}
export type BoxPaths = ReturnType<typeof boxPaths>;

export const resourceIdFor = (leaseId: string) => `local-${safeSegment(leaseId)}`;
export const newBoxUid = () => randomBytes(8).toString('hex');

/**
 * Where boxes live: this machine. Workers of a fleet on one machine (each with its own state dir)
 * may take over each other's boxes; the box's own directory is recorded in the lease.
 */
export function localScope(): string {
  return `local:${hostname()}`;
}

/** The recorded box directory, accepted only in the shape durabox creates: `<…>/boxes/<leaseId>`. */
export function recordedBoxDir(leaseId: string, recorded: unknown): string {
  if (typeof recorded !== 'string') return boxDir(leaseId);
  if (!isAbsolute(recorded) || basename(recorded) !== safeSegment(leaseId) || basename(dirname(recorded)) !== 'boxes') {
    throw new ProviderError('ownership', `recorded box dir ${JSON.stringify(recorded)} is not a durabox box of lease ${leaseId}`, { provider: 'local', operation: 'paths' });
  }
  return recorded;
}

/** undefined when there is no box.json; throws `ownership` when it is not ours to interpret. */
export function readBox(paths: BoxPaths): BoxRecord | undefined {
  let text: string;
  try {
    text = readFileSync(paths.json, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const parsed = BoxRecordSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new ProviderError('ownership', `${paths.json} is not a durabox box marker; not touching it`, { provider: 'local', operation: 'read' });
  }
  return parsed.data;
}

export function writeBox(paths: BoxPaths, rec: BoxRecord): void {
  const tmp = `${paths.json}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, paths.json);
}

export function ensureBoxDirs(paths: BoxPaths): void {
  for (const d of [paths.dir, paths.etc, paths.root]) mkdirSync(d, { recursive: true, mode: 0o700 });
}

/**
 * Serialize mutating verbs on one box across processes (an activity retry can overlap a worker that
 * is still running the first attempt). The lock file holds the owner's pid; a dead owner's lock is
 * taken over.
 */
export async function withBoxLock<T>(paths: BoxPaths, fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
  const deadline = Date.now() + waitMs;
  mkdirSync(dirname(paths.lock), { recursive: true, mode: 0o700 });
  for (;;) {
    try {
      const fd = openSync(paths.lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(safeRead(paths.lock));
      if (owner && !pidAlive(owner)) {
        try {
          unlinkSync(paths.lock);
        } catch {
          /* another waiter took it over first */
        }
        continue;
      }
      if (Date.now() > deadline) {
        throw new ProviderError('transient', `box lock ${paths.lock} held by pid ${owner}`, { provider: 'local', operation: 'lock' });
      }
      await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (safeRead(paths.lock) === String(process.pid)) unlinkSync(paths.lock);
    } catch {
      /* already gone */
    }
  }
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie answers kill(0) but is dead for our purposes.
  if (existsSync(`/proc/${pid}/stat`)) return !/\) Z /.test(safeRead(`/proc/${pid}/stat`));
  return true;
}
