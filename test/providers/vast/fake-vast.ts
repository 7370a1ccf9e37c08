/**
 * A fake Vast.ai API for tests: real HTTP on 127.0.0.1 (node:http), the endpoints the adapter uses
 * with the documented payload shapes (providers.md 2.1, vast-openapi-subset.yaml), and instances
 * that are REAL local sshd boxes (providers/local/sshd.ts + box.ts), so create → ready → ssh →
 * stop → resume → destroy runs for real.
 *
 * - Auth: `Authorization: Bearer <key>`; keys map to accounts. An `api_key` query parameter is a
 *   recorded violation.
 * - Every request and every normal response is checked against the OpenAPI subset
 *   (openapi-check.ts); problems land in `violations`.
 * - Error injection per route (operationId): a queue of faults (status, body, Retry-After,
 *   malformed JSON, apply-then-fail for ambiguous creates).
 * - `takeOnRent`: offers that are rented by someone else between our search and our PUT.
 * - v1 list pagination with `next_token` / `after_token`; page size adjustable to force pages.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import { boxPaths, ensureBoxDirs, type BoxPaths } from '../../../providers/local/box.js';
import { ensureHostKey, findSshd, startSshd, stopSshd } from '../../../providers/local/sshd.js';
import { checkRequest, checkResponse, findOperation } from './openapi-check.js';

export interface FakeOffer {
  id: number;
  machine_id: number;
  gpu_name: string;
  num_gpus: number;
  dph_total: number;
  min_bid: number;
  reliability2: number;
  rentable: boolean;
  rented: boolean;
  verified: boolean;
  direct_port_count: number;
  disk_space: number;
}

export interface FakeInstance {
  id: number;
  accountId: number;
  label: string | null;
  image: string;
  disk: number;
  runtype: string;
  actual_status: string | null;
  intended_status: string;
  cur_state: string;
  status_msg: string | null;
  start_date: number;
  dph_total: number;
  machine_id: number;
  gpu_name: string;
  num_gpus: number;
  is_bid: boolean;
  keys: Array<{ id: number; public_key: string }>;
  /** Absent for foreign instances made by `addForeignInstance` (no sshd behind them). */
  box?: BoxPaths;
  port?: number;
  /** Polls left before a starting instance reports running. */
  bootPolls: number;
  /** When set, the instance fails to start with this status. */
  failWith?: string;
}

export interface Fault {
  status: number;
  /** JSON-able body, or a raw string sent as-is (e.g. malformed JSON). */
  body?: unknown;
  raw?: string;
  retryAfter?: string;
  /** Run the real handler first, then answer with this fault (the request *was* applied). */
  apply?: boolean;
  /** Close the socket without an answer (after applying, when `apply`). */
  drop?: boolean;
}

export interface RequestRecord {
  method: string;
  url: string;
  path: string;
  operation: string;
  authorization: string | undefined;
  contentType: string | undefined;
  accept: string | undefined;
  body: unknown;
}

export interface FakeVastOptions {
  /** Polls of GET /instances/{id}/ that still show `loading` before `running`. @default 1 */
  bootPolls?: number;
  /** v1 list page size (the real API caps it at 25). @default 25 */
  pageSize?: number;
}

const ERR = (error: string, msg: string) => ({ success: false, error, msg });

export class FakeVast {
  readonly accounts = new Map<string, { id: number; email: string }>();
  readonly offers: FakeOffer[] = [];
  readonly instances = new Map<number, FakeInstance>();
  readonly requests: RequestRecord[] = [];
  readonly violations: string[] = [];
  readonly faults = new Map<string, Fault[]>();
  readonly takeOnRent = new Set<number>();
  /** Answer v1 list with 404 (as an API without the v1 route would), to exercise the v0 fallback. */
  v1Missing = false;
  /** New instances stay out of the list endpoints this long (inventories lag behind creates). */
  listLagMs = 0;
  /** Return every offer from a search, ignoring the filters (a server that does not filter). */
  ignoreFilters = false;
  private nextInstance = 4_000_001;
  private nextKeyId = 900;
  private server!: Server;
  port = 0;

  private constructor(private readonly opts: FakeVastOptions) {}

  static async start(opts: FakeVastOptions = {}): Promise<FakeVast> {
    const f = new FakeVast(opts);
    f.server = createServer((req, res) => {
      f.handle(req, res).catch((e: unknown) => {
        f.violations.push(`fake crashed: ${(e as Error).stack}`);
        if (!res.headersSent) res.writeHead(500).end('fake crashed');
      });
    });
    await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', r));
    f.port = (f.server.address() as { port: number }).port;
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  addAccount(id: number): string {
    const key = randomBytes(32).toString('hex');
    this.accounts.set(key, { id, email: `user${id}@example.test` });
    return key;
  }

  addOffer(o: Partial<FakeOffer> & { id: number }): FakeOffer {
    const offer: FakeOffer = {
      machine_id: 10_000 + o.id,
      gpu_name: 'RTX 4090',
      num_gpus: 1,
      dph_total: 0.4,
      min_bid: 0.2,
      reliability2: 0.99,
      rentable: true,
      rented: false,
      verified: true,
      direct_port_count: 10,
      disk_space: 200,
      ...o,
    };
    this.offers.push(offer);
    return offer;
  }

  /** Someone else's instance (or an unlabelled one of ours): no sshd behind it. */
  addForeignInstance(accountId: number, label: string | null): FakeInstance {
    const inst = this.newInstance(accountId, label, this.offers[0] ?? this.addOffer({ id: 1 }));
    inst.actual_status = 'running';
    inst.bootPolls = 0;
    return inst;
  }

  fail(operation: string, ...faults: Fault[]): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), ...faults]);
  }

  /** Instances of one account, optionally only those whose label mentions `leaseId`. */
  list(accountId?: number, leaseId?: string): FakeInstance[] {
    return [...this.instances.values()].filter((i) => (accountId === undefined || i.accountId === accountId) && (!leaseId || (i.label ?? '').includes(`|${leaseId}|`)));
  }

  /** What the list endpoints show: without instances younger than listLagMs. */
  private listed(accountId: number): FakeInstance[] {
    return this.list(accountId).filter((i) => Date.now() - i.start_date * 1000 >= this.listLagMs);
  }

  async close(): Promise<void> {
    for (const i of this.instances.values()) if (i.box) await stopSshd(i.box).catch(() => undefined);
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // --- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: unknown;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.violations.push(`${method} ${url.pathname}: request body is not JSON`);
      }
    }
    const op = findOperation(method, url.pathname)?.id ?? (method === 'GET' && /^\/api\/v0\/instances\/?$/.test(url.pathname) ? 'listInstancesV0' : 'unknown');
    this.requests.push({
      method,
      url: req.url ?? '',
      path: url.pathname,
      operation: op,
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
      body,
    });
    if (url.searchParams.has('api_key')) this.violations.push(`${method} ${url.pathname}: api_key sent as a query parameter`);
    if (req.headers.accept !== 'application/json') this.violations.push(`${method} ${url.pathname}: Accept is ${req.headers.accept}`);
    if (raw && !/^application\/json/.test(req.headers['content-type'] ?? '')) this.violations.push(`${method} ${url.pathname}: body without JSON content-type`);
    if (!url.pathname.endsWith('/')) this.violations.push(`${method} ${url.pathname}: no trailing slash (the CLI always sends one)`);
    if (op !== 'listInstancesV0') {
      for (const v of checkRequest(method, url.pathname.replace(/\/$/, ''), url.searchParams, body, op === 'showInstance' ? ['owner'] : [])) this.violations.push(`request: ${v}`);
    }

    const key = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const account = key ? this.accounts.get(key) : undefined;
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}, validateIt = true) => {
      if (validateIt && op !== 'listInstancesV0' && !(op === 'showInstances' && this.v1Missing)) {
        for (const v of checkResponse(method, url.pathname.replace(/\/$/, ''), status, payload)) this.violations.push(`response: ${v}`);
      }
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(payload));
    };
    if (!account) {
      // /bundles answers a bad key with 404 "Invalid user key" (spec); the rest with 401.
      return send(op === 'searchOffers' ? 404 : 401, ERR('auth_error', 'Invalid user key'), {}, false);
    }

    const fault = this.faults.get(op)?.shift();
    if (fault && !fault.apply) return this.sendFault(res, fault);
    const [status, payload] = await this.route(op, method, url, body, account.id);
    if (fault) return this.sendFault(res, fault);
    send(status, payload);
  }

  private sendFault(res: ServerResponse, f: Fault): void {
    if (f.drop) {
      res.socket?.destroy();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (f.retryAfter !== undefined) headers['retry-after'] = f.retryAfter;
    const text = f.raw ?? JSON.stringify(f.body ?? ERR('injected', `injected ${f.status}`));
    res.writeHead(f.status, headers).end(text);
  }

  private async route(op: string, method: string, url: URL, body: any, accountId: number): Promise<[number, unknown]> {
    const ids = [...url.pathname.matchAll(/\/(\d+)(?=\/|$)/g)].map((m) => Number(m[1]));
    const mine = (id: number | undefined) => {
      const i = id === undefined ? undefined : this.instances.get(id);
      return i && i.accountId === accountId ? i : undefined;
    };
    switch (op) {
      case 'showUser': {
        const a = [...this.accounts.values()].find((x) => x.id === accountId)!;
        return [200, { id: a.id, email: a.email, balance: 10.5, key_id: 1 }];
      }
      case 'searchOffers':
        return [200, { offers: this.search(body ?? {}) }];
      case 'createInstance': {
        const offer = this.offers.find((o) => o.id === ids[0]);
        if (!offer || offer.rented || !offer.rentable || this.takeOnRent.has(offer.id)) {
          if (offer) {
            offer.rented = true;
            this.takeOnRent.delete(offer.id);
          }
          return [404, ERR('invalid_args', `error 404/3603: no_such_ask Instance type by id ${ids[0]} is not available.`)];
        }
        if (typeof body?.label === 'string' && body.label.length > 1024) return [400, ERR('invalid_args', 'label too long')];
        offer.rented = true;
        const inst = this.newInstance(accountId, body?.label ?? null, offer);
        inst.image = body?.image ?? '';
        inst.disk = body?.disk ?? 8;
        inst.runtype = body?.runtype ?? 'ssh';
        inst.is_bid = body?.price !== undefined;
        await this.bootBox(inst);
        return [200, { success: true, new_contract: inst.id }];
      }
      case 'showInstance': {
        const inst = mine(ids[0]);
        if (!inst) return [200, { instances: null }];
        await this.progress(inst);
        return [200, { instances: this.view(inst) }];
      }
      case 'manageInstance': {
        const inst = mine(ids[0]);
        if (!inst) return [404, ERR('no_such_instance', 'Instance not found.')];
        if (typeof body?.label === 'string') inst.label = body.label;
        if (body?.state === 'stopped' && inst.intended_status !== 'stopped') {
          inst.intended_status = 'stopped';
          inst.cur_state = 'stopped';
          inst.actual_status = 'exited';
          if (inst.box) await stopSshd(inst.box);
        } else if (body?.state === 'running' && inst.intended_status !== 'running') {
          inst.intended_status = 'running';
          inst.cur_state = 'running';
          inst.bootPolls = 1; // still `exited` on the next poll, then running
        }
        return [200, { success: true }];
      }
      case 'destroyInstance': {
        const inst = mine(ids[0]);
        if (!inst) return [404, ERR('not_found', 'Instance not found')];
        if (inst.box) {
          await stopSshd(inst.box);
          rmSync(inst.box.dir, { recursive: true, force: true });
        }
        this.instances.delete(inst.id);
        const offer = this.offers.find((o) => o.machine_id === inst.machine_id);
        if (offer) offer.rented = false;
        return [200, { success: true, msg: 'Instance destroyed successfully' }];
      }
      case 'showInstances': {
        if (this.v1Missing) return [404, ERR('not_found', 'no such route')];
        const limitQ = Number(url.searchParams.get('limit') ?? 25);
        const limit = Math.min(this.opts.pageSize ?? 25, limitQ <= 0 ? 5 : Math.min(limitQ, 25));
        let after = 0;
        const tok = url.searchParams.get('after_token');
        if (tok) {
          try {
            after = JSON.parse(Buffer.from(tok, 'base64').toString('utf8')).values.id;
          } catch {
            return [400, { error: 'invalid_token', msg: 'invalid after_token' }];
          }
        }
        const all = this.listed(accountId).sort((a, b) => a.id - b.id);
        for (const i of all) await this.progress(i, false);
        const page = all.filter((i) => i.id > after).slice(0, limit);
        const more = all.some((i) => i.id > (page[page.length - 1]?.id ?? Infinity));
        const labelCounts: Record<string, number> = {};
        for (const i of all) labelCounts[i.label ?? ''] = (labelCounts[i.label ?? ''] ?? 0) + 1;
        return [
          200,
          {
            success: true,
            instances_found: page.length,
            total_instances: all.length,
            label_counts: labelCounts,
            next_token: more ? Buffer.from(JSON.stringify({ values: { id: page[page.length - 1]!.id } })).toString('base64') : null,
            instances: page.map((i) => this.view(i)),
          },
        ];
      }
      case 'listInstancesV0':
        return [200, { instances_found: this.listed(accountId).length, instances: this.listed(accountId).map((i) => this.view(i)) }];
      case 'attachSshKey': {
        const inst = mine(ids[0]);
        if (!inst) return [404, ERR('no_such_instance', 'Instance not found.')];
        const k = String(body?.ssh_key ?? '').trim();
        if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/.test(k)) return [400, ERR('invalid_args', 'not an ssh key')];
        inst.keys.push({ id: this.nextKeyId++, public_key: k });
        this.writeKeys(inst);
        return [200, { success: true, msg: 'SSH key attached successfully' }];
      }
      case 'showSshKeys': {
        const inst = mine(ids[0]);
        if (!inst) return [404, ERR('no_such_instance', 'Instance not found.')];
        return [200, { success: true, ssh_keys: JSON.stringify(inst.keys.map((k) => ({ id: k.id, name: `key-${k.id}`, public_key: k.public_key }))) }];
      }
      case 'detachSshKey': {
        const inst = mine(ids[0]);
        const idx = inst?.keys.findIndex((k) => k.id === ids[1]) ?? -1;
        if (!inst || idx < 0) return [404, ERR(inst ? 'no_such_ssh_key' : 'no_such_instance', 'not found')];
        inst.keys.splice(idx, 1);
        this.writeKeys(inst);
        return [200, { success: true, msg: 'SSH key removed from instance.' }];
      }
      default:
        this.violations.push(`${method} ${url.pathname}: no such endpoint`);
        return [404, ERR('not_found', 'no such endpoint')];
    }
  }

  // --- model ---------------------------------------------------------------------------------

  private search(q: Record<string, any>): FakeOffer[] {
    const fieldOf: Record<string, keyof FakeOffer> = { reliability: 'reliability2' };
    const control = new Set(['type', 'order', 'limit', 'allocated_storage']);
    let out = this.offers.filter((o) => {
      if (this.ignoreFilters) return true;
      for (const [k, cond] of Object.entries(q)) {
        if (control.has(k) || !cond || typeof cond !== 'object') continue;
        const v = (o as any)[fieldOf[k] ?? k];
        if (v === undefined) continue;
        for (const [opName, want] of Object.entries(cond as Record<string, any>)) {
          const ok =
            opName === 'eq' ? v === want : opName === 'neq' ? v !== want : opName === 'gt' ? v > want : opName === 'gte' ? v >= want
            : opName === 'lt' ? v < want : opName === 'lte' ? v <= want : opName === 'in' ? want.includes(v) : opName === 'notin' ? !want.includes(v) : true;
          if (!ok) return false;
        }
      }
      return true;
    });
    const [field, dir] = (q.order?.[0] ?? ['dph_total', 'asc']) as [string, string];
    out = [...out].sort((a, b) => ((a as any)[field] - (b as any)[field]) * (dir === 'desc' ? -1 : 1));
    return out.slice(0, q.limit ?? 64);
  }

  private newInstance(accountId: number, label: string | null, offer: FakeOffer): FakeInstance {
    const inst: FakeInstance = {
      id: this.nextInstance++,
      accountId,
      label,
      image: '',
      disk: 8,
      runtype: 'ssh',
      actual_status: null,
      intended_status: 'running',
      cur_state: 'running',
      status_msg: null,
      start_date: Date.now() / 1000,
      dph_total: offer.dph_total,
      machine_id: offer.machine_id,
      gpu_name: offer.gpu_name,
      num_gpus: offer.num_gpus,
      is_bid: false,
      keys: [],
      bootPolls: this.opts.bootPolls ?? 1,
    };
    this.instances.set(inst.id, inst);
    return inst;
  }

  private async bootBox(inst: FakeInstance): Promise<void> {
    const paths = boxPaths(`vast-${inst.id}`);
    ensureBoxDirs(paths);
    await ensureHostKey(paths, `vast-${inst.id}`);
    inst.box = paths;
    this.writeKeys(inst);
  }

  /** Move a starting instance along: `loading` for bootPolls polls, then sshd up and `running`. */
  private async progress(inst: FakeInstance, consumePoll = true): Promise<void> {
    if (inst.intended_status !== 'running' || inst.actual_status === 'running' || !inst.box) return;
    if (inst.failWith) {
      inst.actual_status = inst.failWith;
      inst.status_msg = `Error response from daemon: ${inst.failWith}`;
      return;
    }
    if (inst.bootPolls > 0) {
      if (consumePoll) inst.bootPolls--;
      if (inst.actual_status === null) inst.actual_status = 'loading';
      return;
    }
    if (!consumePoll) return;
    inst.port = await startSshd(inst.box, { sshdPath: findSshd(), user: userInfo().username, port: inst.port, startTimeoutMs: 10_000 });
    inst.actual_status = 'running';
    inst.status_msg = 'success, running';
  }

  private writeKeys(inst: FakeInstance): void {
    if (!inst.box) return;
    writeFileSync(inst.box.authorizedKeys, inst.keys.map((k) => `no-agent-forwarding,no-X11-forwarding ${k.public_key}\n`).join(''), { mode: 0o600 });
  }

  /** The instance as the API shows it. */
  view(i: FakeInstance): Record<string, unknown> {
    const running = i.actual_status === 'running' && i.port;
    return {
      id: i.id,
      actual_status: i.actual_status,
      intended_status: i.intended_status,
      cur_state: i.cur_state,
      next_state: i.cur_state,
      label: i.label,
      image_uuid: i.image,
      image_runtype: i.runtype,
      status_msg: i.status_msg,
      ssh_host: '127.0.0.1',
      ssh_idx: '1',
      ssh_port: running ? i.port : 0,
      public_ipaddr: '127.0.0.1',
      ports: running ? { '22/tcp': [{ HostIp: '0.0.0.0', HostPort: String(i.port) }] } : null,
      machine_id: i.machine_id,
      start_date: i.start_date,
      dph_total: i.dph_total,
      gpu_name: i.gpu_name,
      num_gpus: i.num_gpus,
      is_bid: i.is_bid,
      disk_space: i.disk,
      direct_port_count: 10,
    };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
