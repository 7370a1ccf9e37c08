/**
 * A fake AGX workspace gateway: an in-process ssh2 server on 127.0.0.1 that
 * - presents one fixed host key (the gateway's, whatever instance is asked for),
 * - accepts only the operator's registered public key (signature verified),
 * - parses `<vmUser>+<instance>` logins and routes each instance to its own sandbox directory,
 *   "provisioned" (created) on first successful login, optionally after a few refused attempts,
 * - runs every exec request as a local process: `bash -c <command>` with cwd and HOME = the
 *   sandbox, stdin/stdout/stderr piped and the exit status returned. `rsync --server …` (what rsync
 *   over ssh execs), `setsid` and `tail --pid` therefore work as on a real box.
 *
 * It models only what AGX publishes (the login shape); the provisioning delay is a knob.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, ServerChannel } from 'ssh2';

const { Server, utils } = ssh2;

export interface FakeGatewayOptions {
  /** The gateway's private host key (OpenSSH or PEM text). */
  hostPrivateKey: string;
  /** The operator's registered public key, `type base64 [comment]`. */
  authorizedKey: string;
  /** The vm user before `+`. */
  vmUser: string;
  /** Sandboxes live in `<root>/<instance>`. */
  root: string;
  /** Listen on this port (0 = any free one). */
  port?: number;
  /** Drop the connection after auth this many times for a fresh instance ("still provisioning"). */
  provisioningDrops?: number;
}

const INSTANCE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class FakeAgxGateway {
  /** Every accepted login, in order (`user+instance`). */
  readonly logins: string[] = [];
  /** Every exec command string, in order. */
  readonly commands: string[] = [];
  private readonly server: InstanceType<typeof Server>;
  private readonly conns = new Set<Connection>();
  private readonly children = new Set<ChildProcess>();
  private readonly drops = new Map<string, number>();
  private readonly authorized: ParsedKey;
  port = 0;

  private constructor(private readonly opts: FakeGatewayOptions) {
    const parsed = utils.parseKey(opts.authorizedKey);
    if (parsed instanceof Error) throw parsed;
    this.authorized = Array.isArray(parsed) ? parsed[0]! : parsed;
    this.server = new Server({ hostKeys: [opts.hostPrivateKey] }, (conn) => this.onConnection(conn));
  }

  static async start(opts: FakeGatewayOptions): Promise<FakeAgxGateway> {
    const gw = new FakeAgxGateway(opts);
    await new Promise<void>((resolve, reject) => {
      gw.server.once('error', reject);
      gw.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    gw.port = (gw.server.address() as AddressInfo).port;
    return gw;
  }

  sandboxDir(instance: string): string {
    return join(this.opts.root, instance);
  }

  /** Stop listening, drop every connection and kill every process still running. */
  async close(): Promise<void> {
    for (const c of this.children) killGroup(c, 'SIGKILL');
    for (const c of this.conns) c.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(conn: Connection): void {
    this.conns.add(conn);
    let instance: string | undefined;
    conn.on('error', () => {}); // ssh-keyscan and killed clients hang up mid-handshake
    conn.on('close', () => this.conns.delete(conn));
    conn.on('authentication', (ctx) => {
      const m = new RegExp(`^${escapeRe(this.opts.vmUser)}\\+(.+)$`).exec(ctx.username);
      if (!m || !INSTANCE.test(m[1]!) || ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const want = this.authorized.getPublicSSH();
      if (ctx.key.algo !== this.authorized.type || !equal(ctx.key.data, want)) return ctx.reject(['publickey']);
      if (ctx.signature && ctx.blob) {
        if (this.authorized.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(['publickey']);
      }
      instance = m[1]!;
      ctx.accept();
    });
    conn.on('ready', () => {
      conn.setNoDelay(true);
      const name = instance!;
      const dropped = this.drops.get(name) ?? 0;
      if (dropped < (this.opts.provisioningDrops ?? 0)) {
        this.drops.set(name, dropped + 1);
        conn.end();
        return;
      }
      this.drops.set(name, Number.POSITIVE_INFINITY);
      this.logins.push(`${this.opts.vmUser}+${name}`);
      const dir = this.sandboxDir(name);
      mkdirSync(dir, { recursive: true });
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('env', (accept) => accept?.());
        session.on('pty', (_accept, reject) => reject?.());
        session.on('shell', (_accept, reject) => reject());
        session.on('subsystem', (_accept, reject) => reject());
        session.on('exec', (accept, _reject, info) => {
          this.commands.push(info.command);
          this.exec(accept(), info.command, dir);
        });
      });
    });
  }

  private exec(stream: ServerChannel, command: string, dir: string): void {
    const child = spawn('bash', ['-c', command], {
      cwd: dir,
      env: { HOME: dir, USER: this.opts.vmUser, PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // its own process group, so a closed channel can hang it up like sshd does
    });
    this.children.add(child);
    child.stdin.on('error', () => {});
    stream.on('error', () => {});
    stream.pipe(child.stdin);
    child.stdout.pipe(stream, { end: false });
    child.stderr.pipe(stream.stderr, { end: false });
    let done = false;
    stream.on('close', () => {
      if (!done) killGroup(child, 'SIGHUP');
    });
    child.on('error', () => {
      done = true;
      this.children.delete(child);
      stream.exit(127);
      stream.end();
    });
    child.on('close', (code, signal) => {
      done = true;
      this.children.delete(child);
      if (signal) stream.exit(signal.replace(/^SIG/, ''), false, '');
      else stream.exit(code ?? 1);
      stream.end();
    });
  }
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, sig);
  } catch {
    /* already gone */
  }
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A fresh ed25519 host key pair for a fake gateway: `{ privateKey, publicKey: 'type base64' }`. */
export function newGatewayHostKey(): { privateKey: string; publicKey: string } {
  const k = utils.generateKeyPairSync('ed25519');
  return { privateKey: k.private, publicKey: k.public.trim().split(/\s+/).slice(0, 2).join(' ') };
}
