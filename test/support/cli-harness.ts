/**
 * Drives the built CLI (`dist/cli/main.js`) and real worker processes against the test run's dev
 * server. Each harness has its own state dir and task queue, so files never interfere.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';

export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CliHarness {
  readonly stateDir: string;
  readonly taskQueue = `e2e-${randomBytes(4).toString('hex')}`;
  readonly env: NodeJS.ProcessEnv;
  private workers: ChildProcess[] = [];
  /** Each started worker's stdout+stderr so far (for failure messages). */
  readonly workerLogs: Buffer[][] = [];
  client?: Client;

  constructor(
    readonly address: string,
    readonly namespace: string,
    extraEnv: NodeJS.ProcessEnv = {},
  ) {
    this.stateDir = mkdtempSync(join(tmpdir(), 'durabox-e2e-'));
    this.env = {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      DURABOX_STATE_DIR: this.stateDir,
      DURABOX_TASK_QUEUE: this.taskQueue,
      DURABOX_CONFIG: join(this.stateDir, 'no-user-config.yaml'),
      // As a fleet's CLIs are configured: a run on a lease that is up goes over the HTTP API.
      ...(inject('temporalHttpUrl') ? { DURABOX_TEMPORAL_HTTP: inject('temporalHttpUrl') } : {}),
      ...extraEnv,
    };
  }

  async connect(): Promise<Client> {
    this.client ??= new Client({ connection: await Connection.connect({ address: this.address }), namespace: this.namespace });
    return this.client;
  }

  /** Start a `durabox worker` process and wait until it is polling. */
  async startWorker(extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const ready = join(this.stateDir, 'worker', 'ready');
    rmSync(ready, { force: true });
    const log = join(this.stateDir, `worker-${this.workers.length}.log`);
    const child = spawn(process.execPath, [CLI, 'worker'], { env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    this.workerLogs.push(chunks);
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    child.stderr!.on('data', (c: Buffer) => chunks.push(c));
    child.on('exit', () => { try { writeFileSync(log, Buffer.concat(chunks)); } catch { /* state dir already removed */ } });
    this.workers.push(child);
    // Generous: on a loaded 2-core machine several workers starting at once take a while.
    const deadline = Date.now() + 150_000;
    while (!(existsSync(ready) && readFileSync(ready, 'utf8').trim() === String(child.pid))) {
      if (child.exitCode !== null) throw new Error(`worker exited early: ${Buffer.concat(chunks).toString().slice(-2000)}`);
      if (Date.now() > deadline) throw new Error('worker did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    return child;
  }

  /** Run the CLI to completion. */
  run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; onStdout?: (s: string) => void } = {}): Promise<CliResult> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...this.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        opts.onStdout?.(stdout);
      });
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    });
  }

  /**
   * Start the CLI without waiting: for tests that signal or kill it mid-run. `text()` is the output
   * so far; `waitFor` resolves once stdout (or stderr) matches.
   */
  start(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunningCli {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...this.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
    const done = new Promise<CliResult>((resolvePromise, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolvePromise({ code: code ?? -1, ...out }));
    });
    const waitFor = async (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 180_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out[stream])) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`CLI exited before ${pattern}: ${out.stderr.slice(-1500)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on ${stream}: ${out.stderr.slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return { child, done, text: () => ({ ...out }), waitFor };
  }

  async stop(): Promise<void> {
    for (const w of this.workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await this.client?.connection.close();
  }

  cleanup(): void {
    // Boxes a failed test never released: their sshd runs detached and would outlive the test.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (argv.includes('sshd') && argv.includes(`${this.stateDir}/boxes/`)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<CliResult>;
  text(): { stdout: string; stderr: string };
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
}

/** A small committed git repository (plus an ignored file that must never be synced). */
export function makeRepo(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'durabox-repo-'));
  const all = { 'hello.txt': 'hello from the repo\n', '.gitignore': 'ignored.txt\n', ...files };
  for (const [path, body] of Object.entries(all)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  execFileSync('git', ['add', '-A'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'init'], { cwd: dir, env });
  writeFileSync(join(dir, 'ignored.txt'), 'must not be synced\n');
  return dir;
}
