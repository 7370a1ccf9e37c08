/**
 * A fake GitHub Codespaces API for tests: real HTTP on 127.0.0.1, the endpoints the adapter uses
 * with payloads built from the spec's own examples (github-codespaces-openapi-subset.json), every
 * request and response checked against the subset (openapi-check.ts), and codespaces that are REAL
 * local sshd boxes (providers/local), reached by the fake `gh` (fake-gh.ts) through a ProxyCommand.
 *
 * - Auth: `Authorization: Bearer <token>`; tokens map to users; `X-OAuth-Scopes` per token.
 * - Lifecycle: create → Queued/Provisioning (bootPolls GETs) → Available (sshd up); stop →
 *   ShuttingDown → Shutdown; start → Starting → Available; DELETE → Deleted → 404.
 * - Pagination with `page`/`per_page` and `Link: rel="next"`; page size adjustable.
 * - Error injection per operationId (status, body, Retry-After, apply-then-fail, drop).
 * - `listLagMs`: new codespaces stay out of the list this long (inventories lag behind creates).
 * - Writes `<stateDir>/<name>.json` ({state, port, user}) for the fake gh.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { boxPaths, ensureBoxDirs, type BoxPaths } from '../../../providers/local/box.js';
import { ensureHostKey, findSshd, startSshd, stopSshd } from '../../../providers/local/sshd.js';
import { checkRequest, checkResponse, example, findOperation } from './openapi-check.js';

export interface FakeUser {
  id: number;
  login: string;
  scopes: string;
}

export interface FakeRepo {
  id: number;
  full_name: string;
  ownerId: number;
  machines: string[];
}

export interface GitStatus {
  ahead?: number;
  behind?: number;
  has_unpushed_changes?: boolean;
  has_uncommitted_changes?: boolean;
  ref?: string;
}

export interface FakeCodespace {
  id: number;
  name: string;
  display_name: string | null;
  environment_id: string;
  userId: number;
  repo: FakeRepo;
  machine: string;
  state: string;
  git_status: GitStatus | null;
  idle_timeout_minutes: number;
  retention_period_minutes: number;
  created_at: string;
  createdMs: number;
  body: Record<string, unknown>;
  box?: BoxPaths;
  port?: number;
  pollsLeft: number;
}

export interface Fault {
  status: number;
  body?: unknown;
  raw?: string;
  retryAfter?: string;
  headers?: Record<string, string>;
  apply?: boolean;
  drop?: boolean;
}

export interface RequestRecord {
  method: string;
  url: string;
  path: string;
  operation: string;
  authorization: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  raw: string;
}

export class FakeGitHub {
  readonly users = new Map<string, FakeUser>();
  readonly repos: FakeRepo[] = [];
  readonly codespaces = new Map<string, FakeCodespace>();
  readonly requests: RequestRecord[] = [];
  readonly violations: string[] = [];
  readonly faults = new Map<string, Fault[]>();
  /** Keys gh's identity may log in with (the fake gh's codespaces.auto). */
  authorizedKey = '';
  listLagMs = 0;
  pageSize = 100;
  bootPolls = 1;
  /** Answer a create with 202 (accepted, continuing in the background) instead of 201. */
  acceptCreate = false;
  private nextId = 7_000_001;
  private server!: Server;
  port = 0;

  private constructor(readonly stateDir: string) {}

  static async start(stateDir: string): Promise<FakeGitHub> {
    mkdirSync(stateDir, { recursive: true });
    const f = new FakeGitHub(stateDir);
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

  addUser(id: number, login: string, token: string, scopes = 'codespace, repo, read:org'): FakeUser {
    const u = { id, login, scopes };
    this.users.set(token, u);
    return u;
  }

  addRepo(id: number, full_name: string, ownerId: number, machines = ['basicLinux32gb', 'standardLinux32gb']): FakeRepo {
    const r = { id, full_name, ownerId, machines };
    this.repos.push(r);
    return r;
  }

  fail(operation: string, ...faults: Fault[]): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), ...faults]);
  }

  /** A codespace someone made without durabox (no sshd behind it). */
  addForeign(userId: number, repo: FakeRepo, display_name: string | null, state = 'Available'): FakeCodespace {
    const cs = this.newCodespace(userId, repo, { display_name, machine: repo.machines[0] });
    cs.state = state;
    cs.pollsLeft = 0;
    return cs;
  }

  byDisplayName(display: string): FakeCodespace[] {
    return [...this.codespaces.values()].filter((c) => c.display_name === display);
  }

  mutations(name: string): RequestRecord[] {
    return this.requests.filter((r) => r.method !== 'GET' && r.path.includes(`/user/codespaces/${name}`));
  }

  async close(): Promise<void> {
    for (const c of this.codespaces.values()) if (c.box) await stopSshd(c.box).catch(() => undefined);
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
    const op = findOperation(method, url.pathname)?.id ?? 'unknown';
    this.requests.push({ method, url: req.url ?? '', path: url.pathname, operation: op, authorization: req.headers.authorization, headers: req.headers, body, raw });
    if (req.headers.accept !== 'application/vnd.github+json') this.violations.push(`${method} ${url.pathname}: Accept is ${req.headers.accept}`);
    if (req.headers['x-github-api-version'] !== '2022-11-28') this.violations.push(`${method} ${url.pathname}: X-GitHub-Api-Version is ${req.headers['x-github-api-version']}`);
    if (raw && !/^application\/json/.test(req.headers['content-type'] ?? '')) this.violations.push(`${method} ${url.pathname}: body without JSON content-type`);
    for (const v of checkRequest(method, url.pathname, url.searchParams, body)) this.violations.push(`request: ${v}`);

    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const user = token ? this.users.get(token) : undefined;
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      for (const v of checkResponse(method, url.pathname, status, payload)) this.violations.push(`response: ${v}`);
      if (payload === undefined) res.writeHead(status, headers).end();
      else res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(payload));
    };
    if (!user) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });

    const fault = this.faults.get(op)?.shift();
    if (fault && !fault.apply) return this.sendFault(res, fault);
    const [status, payload, headers] = await this.route(op, url, body, user);
    if (fault) return this.sendFault(res, fault);
    send(status, payload, { ...(op === 'users/get-authenticated' ? { 'x-oauth-scopes': user.scopes } : {}), ...headers });
  }

  private sendFault(res: ServerResponse, f: Fault): void {
    if (f.drop) {
      res.socket?.destroy();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', ...f.headers };
    if (f.retryAfter !== undefined) headers['retry-after'] = f.retryAfter;
    res.writeHead(f.status, headers).end(f.raw ?? JSON.stringify(f.body ?? { message: `injected ${f.status}` }));
  }

  private async route(op: string, url: URL, body: any, user: FakeUser): Promise<[number, unknown, Record<string, string>?]> {
    const nf: [number, unknown] = [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }];
    const seg = url.pathname.split('/');
    const mine = (name: string | undefined) => {
      const c = name ? this.codespaces.get(name) : undefined;
      return c && c.userId === user.id ? c : undefined;
    };
    switch (op) {
      case 'users/get-authenticated':
        return [200, { ...example('private-user-response-with-public-and-private-profile-information'), id: user.id, login: user.login }];
      case 'codespaces/repo-machines-for-authenticated-user': {
        const repo = this.repos.find((r) => r.full_name.toLowerCase() === `${seg[2]}/${seg[3]}`.toLowerCase());
        if (!repo) return nf;
        const base = example('codespace-machines-list').machines[0];
        const machines = repo.machines.map((name) => ({ prebuild_availability: null, ...base, name, display_name: name }));
        return [200, { total_count: machines.length, machines }];
      }
      case 'codespaces/create-with-repo-for-authenticated-user': {
        const repo = this.repos.find((r) => r.full_name.toLowerCase() === `${seg[2]}/${seg[3]}`.toLowerCase());
        if (!repo) return nf;
        if (body?.machine && !repo.machines.includes(body.machine)) return [400, { message: `Machine type ${body.machine} is not allowed` }];
        if (typeof body?.display_name === 'string' && body.display_name.length > 48) return [400, { message: 'display_name is too long (maximum is 48 characters)' }];
        const cs = this.newCodespace(user.id, repo, body ?? {});
        await this.bootBox(cs);
        return [this.acceptCreate ? 202 : 201, this.view(cs)];
      }
      case 'codespaces/list-for-authenticated-user': {
        const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100, this.pageSize);
        const page = Number(url.searchParams.get('page') ?? 1);
        const repoId = url.searchParams.get('repository_id');
        const all = [...this.codespaces.values()]
          .filter((c) => c.userId === user.id && Date.now() - c.createdMs >= this.listLagMs && (!repoId || String(c.repo.id) === repoId))
          .sort((a, b) => a.id - b.id);
        for (const c of all) this.progress(c, false);
        const slice = all.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        if (page * perPage < all.length) {
          const next = new URL(url.toString());
          next.searchParams.set('page', String(page + 1));
          next.searchParams.set('per_page', String(perPage));
          headers.link = `<${next}>; rel="next", <${next}>; rel="last"`;
        }
        return [200, { total_count: all.length, codespaces: slice.map((c) => this.view(c)) }, headers];
      }
      case 'codespaces/get-for-authenticated-user': {
        const cs = mine(seg[3]);
        if (!cs) return nf;
        await this.progress(cs, true);
        if (!this.codespaces.has(cs.name)) return nf;
        return [200, this.view(cs)];
      }
      case 'codespaces/start-for-authenticated-user': {
        const cs = mine(seg[3]);
        if (!cs) return nf;
        if (cs.state === 'Available' || cs.state === 'Starting') return [304, undefined];
        if (cs.state !== 'Shutdown') return [409, { message: `Codespace is ${cs.state}` }];
        cs.state = 'Starting';
        cs.pollsLeft = this.bootPolls;
        return [200, this.view(cs)];
      }
      case 'codespaces/stop-for-authenticated-user': {
        const cs = mine(seg[3]);
        if (!cs) return nf;
        if (cs.state === 'Shutdown') return [304, undefined];
        if (cs.box) await stopSshd(cs.box).catch(() => undefined);
        cs.state = 'ShuttingDown';
        this.writeState(cs);
        return [200, this.view(cs)];
      }
      case 'codespaces/delete-for-authenticated-user': {
        const cs = mine(seg[3]);
        if (!cs) return nf;
        if (cs.box) await stopSshd(cs.box).catch(() => undefined);
        cs.state = 'Deleted';
        this.writeState(cs);
        return [202, {}];
      }
      default:
        this.violations.push(`${url.pathname}: no such endpoint`);
        return nf;
    }
  }

  // --- model ---------------------------------------------------------------------------------

  private newCodespace(userId: number, repo: FakeRepo, body: Record<string, unknown>): FakeCodespace {
    const id = this.nextId++;
    const login = [...this.users.values()].find((u) => u.id === userId)?.login ?? 'someone';
    const cs: FakeCodespace = {
      id,
      name: `${login}-${repo.full_name.split('/')[1]}-${id.toString(36)}`.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
      display_name: (body.display_name as string | null | undefined) ?? 'bookish space pancake',
      environment_id: randomUUID(),
      userId,
      repo,
      machine: (body.machine as string) ?? repo.machines[0]!,
      state: 'Queued',
      git_status: { ahead: 0, behind: 0, has_unpushed_changes: false, has_uncommitted_changes: false, ref: (body.ref as string) ?? 'main' },
      idle_timeout_minutes: (body.idle_timeout_minutes as number) ?? 30,
      retention_period_minutes: (body.retention_period_minutes as number) ?? 43_200,
      created_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      createdMs: Date.now(),
      body,
      pollsLeft: this.bootPolls,
    };
    this.codespaces.set(cs.name, cs);
    this.writeState(cs);
    return cs;
  }

  private async bootBox(cs: FakeCodespace): Promise<void> {
    const paths = boxPaths(`cs-${cs.id}`);
    ensureBoxDirs(paths);
    await ensureHostKey(paths, `cs-${cs.id}`);
    writeFileSync(paths.authorizedKeys, `${this.authorizedKey.trim()}\n`, { mode: 0o600 });
    cs.box = paths;
  }

  /** Move a codespace along on GETs: Queued/Starting → Available (sshd up), ShuttingDown → Shutdown, Deleted → gone. */
  private async progress(cs: FakeCodespace, consume: boolean): Promise<void> {
    if (!consume) return;
    if (cs.state === 'Deleted') {
      if (cs.box) rmSync(cs.box.dir, { recursive: true, force: true });
      this.codespaces.delete(cs.name);
      rmSync(join(this.stateDir, `${cs.name}.json`), { force: true });
      return;
    }
    if (cs.state === 'ShuttingDown') {
      cs.state = 'Shutdown';
    } else if ((cs.state === 'Queued' || cs.state === 'Provisioning' || cs.state === 'Starting') && cs.box) {
      if (cs.pollsLeft > 0) {
        cs.pollsLeft--;
        if (cs.state === 'Queued') cs.state = 'Provisioning';
      } else {
        cs.port = await startSshd(cs.box, { sshdPath: findSshd(), user: userInfo().username, port: cs.port, startTimeoutMs: 10_000 });
        cs.state = 'Available';
      }
    }
    this.writeState(cs);
  }

  private writeState(cs: FakeCodespace): void {
    writeFileSync(join(this.stateDir, `${cs.name}.json`), JSON.stringify({ state: cs.state, port: cs.port ?? 0, user: userInfo().username }));
  }

  /** The codespace as the API shows it: the spec's example with our fields. */
  view(c: FakeCodespace): Record<string, unknown> {
    const base = example('codespace');
    const owner = { ...base.owner, id: c.userId, login: [...this.users.values()].find((u) => u.id === c.userId)?.login ?? 'someone' };
    return {
      ...base,
      id: c.id,
      name: c.name,
      display_name: c.display_name,
      environment_id: c.environment_id,
      owner,
      billable_owner: owner,
      repository: { ...base.repository, id: c.repo.id, full_name: c.repo.full_name, name: c.repo.full_name.split('/')[1] },
      machine: { ...base.machine, name: c.machine, display_name: c.machine, prebuild_availability: null },
      state: c.state,
      created_at: c.created_at,
      updated_at: c.created_at,
      last_used_at: c.created_at,
      git_status: c.git_status ?? {},
      idle_timeout_minutes: c.idle_timeout_minutes,
      retention_period_minutes: c.retention_period_minutes,
      url: `${this.url}/user/codespaces/${c.name}`,
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
