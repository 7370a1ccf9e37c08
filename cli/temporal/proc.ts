/**
 * Process helpers for the detached dev server and background worker: pid files that are verified
 * rather than trusted (pids get reused), graceful termination, and a small lock so two CLIs
 * starting at once do not both spawn a server.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (our own exited-but-unreaped children count as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still alive.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** argv of a live process; /proc on Linux, `ps` elsewhere. Undefined when it cannot be read. */
export function processArgv(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const argv = raw.split('\0');
    if (argv.at(-1) === '') argv.pop();
    // A zombie has an empty cmdline: it is not the program we are looking for any more.
    return argv;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || process.platform === 'linux') return undefined;
  }
  try {
    const out = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 });
    return out.trim() ? out.trim().split(/\s+/) : undefined;
  } catch {
    return undefined;
  }
}

/** The pid is alive and its command line contains every expected fragment. */
export function processMatches(pid: number, fragments: string[]): boolean {
  if (!isAlive(pid)) return false;
  const argv = processArgv(pid);
  if (!argv || argv.length === 0) return false;
  const joined = argv.join(' ');
  return fragments.every((f) => joined.includes(f));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  // Detached children lead their own process group; signal the group so helpers go too.
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL. Resolves once the pid is gone (or after the kill). */
export async function terminate(pid: number, graceMs = 10_000): Promise<'terminated' | 'killed' | 'absent'> {
  if (!isAlive(pid)) return 'absent';
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'terminated';
    await sleep(100);
  }
  signal(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return 'killed';
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** True when nothing listens on host:port (we can bind it ourselves). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** An ephemeral port the OS considers free right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Exclusive lock file holding our pid. A lock whose holder is dead is taken over; a live holder is
 * waited for up to timeoutMs.
 */
export async function withLock<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(file);
      // An empty lock may be one being written this instant; only an old empty one is abandoned.
      const abandoned = holder === undefined ? ageMs(file) > 5000 : !isAlive(holder);
      if (abandoned) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another durabox process (pid ${holder ?? '?'}) holds ${file}; try again`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    if (readPid(file) === process.pid) rmSync(file, { force: true });
  }
}
