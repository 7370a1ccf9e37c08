/**
 * Where durabox keeps its local state on this machine. One function per kind of thing so that every
 * module agrees on the layout; directories are created 0700 because they hold private keys.
 *
 *   <state>/temporal/         embedded dev server: SQLite file, pid, log
 *   <state>/worker/           background worker: pid, log, worker id
 *   <state>/leases/<leaseId>/ per-lease private key, known_hosts, SSH control sockets
 *   <state>/boxes/<leaseId>/  the local provider's boxes (sshd config, host key, filesystem)
 *   <state>/runs/<runId>/     run output as the worker received it (stdout, stderr)
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';

/** `DURABOX_STATE_DIR`, else `$XDG_STATE_HOME/durabox`, else `~/.local/state/durabox`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DURABOX_STATE_DIR) return resolve(env.DURABOX_STATE_DIR);
  const xdg = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : undefined;
  return join(xdg ?? join(homedir(), '.local', 'state'), 'durabox');
}

/** Create (0700) and return a directory under the state dir. */
export function ensureStateSubdir(...parts: string[]): string {
  const dir = join(stateDir(), ...parts);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export const leaseDir = (leaseId: string) => ensureStateSubdir('leases', safeSegment(leaseId));
export const boxDir = (leaseId: string) => join(stateDir(), 'boxes', safeSegment(leaseId));
export const runDir = (runId: string) => ensureStateSubdir('runs', safeSegment(runId));
export const temporalDir = () => ensureStateSubdir('temporal');
export const workerDir = () => ensureStateSubdir('worker');

/** Ids become path segments; refuse anything that could escape the state dir. */
export function safeSegment(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id) || id.includes('..')) {
    throw new Error(`unsafe id for a path segment: ${JSON.stringify(id)}`);
  }
  return id;
}

/** durabox's own state (keys, boxes, logs) never ships, even when it lies inside the synced tree. */
export function stateDirExcludes(localRoot: string): string[] {
  const rel = relative(resolve(localRoot), stateDir());
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? [`/${rel}`] : [];
}
