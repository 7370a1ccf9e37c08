/**
 * The private sshd behind a local box: config, host key, start (detached, so the box outlives a
 * SIGKILLed worker), and stop. We only ever signal a pid whose command line names this box's
 * config file: a stale pid file must never make us kill a stranger.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from '../errors.js';
import { childEnv } from '../common/child-env.js';
import { runProcess } from '../common/exec.js';
import { pidAlive, type BoxPaths } from './box.js';

const err = (kind: 'invalid' | 'transient', msg: string, operation = 'sshd') => new ProviderError(kind, msg, { provider: 'local', operation });

export function findSshd(configured?: string): string {
  if (configured) return configured;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const d of dirs) {
    const p = join(d, 'sshd');
    if (d.startsWith('/') && existsSync(p)) return p; // sshd re-execs itself and insists on an absolute path
  }
  throw err('invalid', 'sshd not found (install openssh-server or set local.sshdPath)');
}

/** The host key is generated once per box and kept across stop/resume so the pin stays valid. */
export async function ensureHostKey(paths: BoxPaths, leaseId: string): Promise<string> {
  if (!existsSync(paths.hostKey)) {
    const res = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `durabox-box-${leaseId}`, '-f', paths.hostKey]);
    if (res.code !== 0) throw err('invalid', `ssh-keygen for the box host key failed: ${res.stderr.trim()}`);
  }
  return hostPublicKey(paths);
}

/** `type base64` of the box's host key, as pinned in SshTarget.hostKeys. */
export function hostPublicKey(paths: BoxPaths): string {
  const [type, b64] = readFileSync(`${paths.hostKey}.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${b64}`;
}

export function writeAuthorizedKeys(paths: BoxPaths, publicKey: string): void {
  const line = publicKey.trim();
  if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/.test(line)) throw err('invalid', 'lease public key is not one OpenSSH key line');
  writeFileSync(paths.authorizedKeys, `no-agent-forwarding,no-X11-forwarding ${line}\n`, { mode: 0o600 });
}

/** Add one more key (another fleet worker's copy of the lease) without dropping the others. */
export function addAuthorizedKey(paths: BoxPaths, publicKey: string): void {
  const line = publicKey.trim();
  if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/.test(line)) throw err('invalid', 'lease public key is not one OpenSSH key line');
  const current = existsSync(paths.authorizedKeys) ? readFileSync(paths.authorizedKeys, 'utf8') : '';
  const body = line.split(' ').slice(0, 2).join(' ');
  if (current.includes(body)) return;
  writeFileSync(paths.authorizedKeys, `${current}no-agent-forwarding,no-X11-forwarding ${line}\n`, { mode: 0o600 });
}

function sshdConfig(paths: BoxPaths, port: number, user: string): string {
  const q = (p: string) => {
    if (/["\n]/.test(p)) throw err('invalid', `path unusable in sshd_config: ${JSON.stringify(p)}`);
    return `"${p}"`;
  };
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'AddressFamily inet',
    `HostKey ${q(paths.hostKey)}`,
    `PidFile ${q(paths.pidFile)}`,
    `AuthorizedKeysFile ${q(paths.authorizedKeys)}`,
    'AuthenticationMethods publickey',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `AllowUsers ${user}`,
    'PermitRootLogin prohibit-password',
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PermitUserEnvironment no',
    // bash sources ~/.bashrc for every non-interactive ssh command when SHLVL is below 2; an
    // interactive rc (pyenv, nvm, banners) then runs for each of durabox's own control sessions,
    // which costs seconds under load and can break rsync with its output. The user's command still
    // gets the profile: the run wrapper starts it in a login shell (`bash -lc`).
    'SetEnv SHLVL=1',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    // Sync, run and output streams share one ControlMaster connection.
    'MaxSessions 50',
    'MaxStartups 50:30:100',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
    '',
  ].join('\n');
}

/** A port nobody listens on right now (sshd may still lose a race for it: start() retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The pid of this box's sshd, verified by its command line; undefined when not running. */
export function runningSshd(paths: BoxPaths): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !pidAlive(pid)) return undefined;
  // sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f <config> [listener] …"), so match text.
  const cmd = cmdline(pid);
  const at = cmd.indexOf(`-f ${paths.config}`);
  const next = cmd.charAt(at + 3 + paths.config.length);
  return at >= 0 && (next === '' || next === ' ') ? pid : undefined;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trimEnd();
  } catch {
    return '';
  }
}

export interface StartOptions {
  sshdPath: string;
  user: string;
  /** Try this port first (keeps the address stable across resume when it is still free). */
  port?: number;
  startTimeoutMs: number;
}

/** Start sshd unless ours already runs; returns the port it listens on. */
export async function startSshd(paths: BoxPaths, opts: StartOptions): Promise<number> {
  if (existsSync('/run') && process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = attempt === 0 && opts.port ? opts.port : await freePort();
    writeFileSync(paths.config, sshdConfig(paths, port, opts.user), { mode: 0o600 });
    const logOffset = existsSync(paths.log) ? statSync(paths.log).size : 0;
    const logFd = openSync(paths.log, 'a', 0o600);
    const child = spawn(opts.sshdPath, ['-D', '-e', '-f', paths.config], {
      detached: true, // own session and process group: a SIGKILLed worker does not take the box down
      stdio: ['ignore', logFd, logFd],
      env: childEnv(),
    });
    closeSync(logFd);
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', (e) => {
      exited = true;
      lastError = e.message;
    });
    child.unref();
    const deadline = Date.now() + opts.startTimeoutMs;
    while (!exited && Date.now() < deadline) {
      const log = readFileSync(paths.log, 'utf8').slice(logOffset);
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`) && runningSshd(paths) === child.pid) return port;
      await sleep(25);
    }
    lastError ||= readFileSync(paths.log, 'utf8').slice(logOffset).trim().split('\n').slice(-3).join(' | ');
    if (!exited && child.pid) process.kill(child.pid, 'SIGKILL');
  }
  throw err('transient', `sshd for ${paths.dir} did not start: ${lastError || 'timeout'}`, 'start');
}

/** Stop this box's sshd and every session under it. Returns false when nothing was running. */
export async function stopSshd(paths: BoxPaths): Promise<boolean> {
  const pid = runningSshd(paths);
  if (!pid) return false;
  // Per-connection sshd children call setsid(), so a process-group kill misses them: walk the tree.
  const victims = [pid, ...descendants(pid)];
  for (const p of victims) signal(p, 'SIGTERM');
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline && victims.some(pidAlive)) await sleep(25);
  for (const p of victims) if (pidAlive(p)) signal(p, 'SIGKILL');
  try {
    unlinkSync(paths.pidFile);
  } catch {
    /* sshd removes it on a clean exit */
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) for (const c of children.get(queue.shift()!) ?? []) out.push(c), queue.push(c);
  return out;
}

export async function sshdVersion(sshdPath: string): Promise<string> {
  const res = await runProcess(sshdPath, ['-V']);
  return (res.stderr || res.stdout).trim().split('\n')[0] ?? '';
}
