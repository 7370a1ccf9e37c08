/**
 * A fake Coder deployment for tests: real HTTP on 127.0.0.1 (node:http), the `/api/v2` operations
 * the adapter uses with the documented shapes (coder-swagger-subset.json), builds that move through
 * provisioner job states poll by poll, agents that connect and walk their lifecycle, and workspaces
 * that are REAL local sshd boxes (providers/local/sshd.ts + box.ts) reached through the fake `coder`
 * executable in ./bin (its `ssh --stdio` bridges stdin/stdout to the agent's sshd).
 *
 * - Auth: header `Coder-Session-Token`; tokens map to users. A token anywhere else (query, body,
 *   another header) is a recorded violation.
 * - Every request and response is checked against the Swagger subset (swagger-check.ts); problems
 *   land in `violations`.
 * - Error injection per operationId: a queue of faults (status, body, apply-then-fail).
 * - The only route outside the spec is `/__fake/agents/{id}/ssh`, which the fake CLI uses in place
 *   of the agent's tailnet connection; it needs the same token.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { boxPaths, ensureBoxDirs, type BoxPaths } from '../../../providers/local/box.js';
import { ensureHostKey, findSshd, startSshd, stopSshd } from '../../../providers/local/sshd.js';
import { checkRequest, checkResponse, findOperation } from './swagger-check.js';

export interface FakeUser {
  id: string;
  username: string;
  email: string;
  token: string;
}

export interface FakeTemplate {
  id: string;
  name: string;
  organization_id: string;
  active_version_id: string;
  parameters: Array<{ name: string; required: boolean; default_value: string; type: 'string' | 'number' | 'bool' }>;
  presets: Array<{ id: string; name: string; parameters?: Array<{ name: string; value: string }> }>;
}

export interface FakeBuild {
  id: string;
  build_number: number;
  transition: 'start' | 'stop' | 'delete';
  status: string;
  job: { id: string; status: string; error?: string };
  created_at: string;
  template_version_id: string;
  /** Polls left in the current stage. */
  polls: number;
  agent?: { id: string; status: string; lifecycle_state: string; polls: number };
}

export interface FakeWorkspace {
  id: string;
  name: string;
  ownerId: string;
  template: FakeTemplate;
  created_at: string;
  parameters: Array<{ name: string; value: string }>;
  presetId?: string;
  builds: FakeBuild[];
  deleted: boolean;
  box?: BoxPaths;
  port?: number;
  /** Knobs for tests. */
  agentNeverReady?: boolean;
  failStart?: string;
  startError?: boolean;
}

export interface Fault {
  status: number;
  body?: unknown;
  raw?: string;
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
  token: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: unknown;
}

export interface FakeCoderOptions {
  /** Polls per build stage (pending → starting → running). @default 1 */
  buildPolls?: number;
  /** Polls per agent stage (connecting → connected/starting → ready). @default 1 */
  agentPolls?: number;
  /** Lease key files are read from here: the agent lets any of them in (Coder's tunnel is the auth). */
  stateDir: string;
}

const ERR = (message: string, detail?: string) => (detail ? { message, detail } : { message });
const now = () => new Date().toISOString();

export class FakeCoder {
  readonly users = new Map<string, FakeUser>();
  readonly templates: FakeTemplate[] = [];
  readonly workspaces = new Map<string, FakeWorkspace>();
  readonly requests: RequestRecord[] = [];
  readonly violations: string[] = [];
  readonly faults = new Map<string, Fault[]>();
  /** New workspaces stay out of the list endpoint this long (inventories lag behind creates). */
  listLagMs = 0;
  /** Make a new sshd host key at every start, as a real agent does (off by default). */
  rotateHostKeys = false;
  private server!: Server;
  port = 0;
  readonly orgId = randomUUID();

  private constructor(private readonly opts: FakeCoderOptions) {}

  static async start(opts: FakeCoderOptions): Promise<FakeCoder> {
    const f = new FakeCoder(opts);
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

  addUser(username: string): FakeUser {
    // Coder API tokens look like `<10 id chars>-<22 secret chars>`.
    const alnum = () => randomUUID().replace(/-/g, '');
    const u = { id: randomUUID(), username, email: `${username}@example.test`, token: `${alnum().slice(0, 10)}-${alnum().slice(0, 22)}` };
    this.users.set(u.token, u);
    return u;
  }

  addTemplate(name: string, parameters: FakeTemplate['parameters'] = [], presets: FakeTemplate['presets'] = []): FakeTemplate {
    const t = { id: randomUUID(), name, organization_id: this.orgId, active_version_id: randomUUID(), parameters, presets };
    this.templates.push(t);
    return t;
  }

  fail(operation: string, ...faults: Fault[]): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), ...faults]);
  }

  /** A workspace someone made without durabox (no sshd behind it), already running. */
  addForeignWorkspace(owner: FakeUser, name: string, template = this.templates[0]!): FakeWorkspace {
    const ws = this.newWorkspace(owner, name, template, []);
    const b = ws.builds[0]!;
    b.status = 'running';
    b.job.status = 'succeeded';
    b.agent = { id: randomUUID(), status: 'connected', lifecycle_state: 'ready', polls: 0 };
    b.polls = 0;
    return ws;
  }

  live(ownerId?: string): FakeWorkspace[] {
    return [...this.workspaces.values()].filter((w) => !w.deleted && (!ownerId || w.ownerId === ownerId));
  }

  byName(name: string): FakeWorkspace | undefined {
    return this.live().find((w) => w.name === name);
  }

  /** Someone swaps the machine behind the agent: a new host key with the same build and agent ids. */
  async rekeyWithoutBuild(w: FakeWorkspace): Promise<void> {
    if (!w.box) throw new Error('no box');
    await stopSshd(w.box);
    for (const f of [w.box.hostKey, `${w.box.hostKey}.pub`]) if (existsSync(f)) unlinkSync(f);
    await ensureHostKey(w.box, `coder-${w.id.slice(0, 8)}`);
    w.port = await startSshd(w.box, { sshdPath: findSshd(), user: userInfo().username, port: w.port, startTimeoutMs: 10_000 });
  }

  /** Template autostop: a stop build the user did not ask for. */
  autostop(w: FakeWorkspace): void {
    this.newBuild(w, 'stop');
  }

  async close(): Promise<void> {
    for (const w of this.workspaces.values()) if (w.box) await stopSshd(w.box).catch(() => undefined);
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
    const fakeRoute = url.pathname.startsWith('/__fake/');
    const op = fakeRoute ? 'fakeAgentSsh' : (findOperation(method, url.pathname)?.id ?? 'unknown');
    const token = header(req, 'coder-session-token');
    this.requests.push({ method, url: req.url ?? '', path: url.pathname, operation: op, token, headers: { ...req.headers }, raw, body });
    if (!fakeRoute) for (const v of checkRequest(method, url.pathname, url.searchParams, body)) this.violations.push(`request: ${v}`);
    if (raw && !/^application\/json/.test(header(req, 'content-type') ?? '')) this.violations.push(`${method} ${url.pathname}: body without JSON content-type`);

    const send = (status: number, payload: unknown) => {
      if (!fakeRoute) for (const v of checkResponse(method, url.pathname, status, payload)) this.violations.push(`response: ${v}`);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const user = token ? this.users.get(token) : undefined;
    if (!user) return send(401, ERR('You must be logged in to do this', token ? 'API key is invalid.' : 'Missing session token'));

    const fault = this.faults.get(op)?.shift();
    if (fault && !fault.apply) return this.sendFault(res, fault);
    const [status, payload] = await this.route(op, method, url, body, user);
    if (fault) return this.sendFault(res, fault);
    send(status, payload);
  }

  private sendFault(res: ServerResponse, f: Fault): void {
    if (f.drop) {
      res.socket?.destroy();
      return;
    }
    res.writeHead(f.status, { 'content-type': 'application/json' }).end(f.raw ?? JSON.stringify(f.body ?? ERR(`injected ${f.status}`)));
  }

  private async route(op: string, method: string, url: URL, body: any, user: FakeUser): Promise<[number, unknown]> {
    const seg = url.pathname.split('/');
    switch (op) {
      case 'get-user-by-name': {
        const who = decodeURIComponent(seg[4] ?? '');
        const u = who === 'me' ? user : [...this.users.values()].find((x) => x.id === who || x.username === who);
        if (!u) return [404, ERR('Resource not found or you do not have access to this resource')];
        return [200, this.userView(u)];
      }
      case 'list-workspaces': {
        const q = url.searchParams.get('q') ?? '';
        const terms = Object.fromEntries(q.split(/\s+/).filter(Boolean).map((t) => t.split(':') as [string, string]));
        let list = this.live().filter((w) => Date.now() - Date.parse(w.created_at) >= this.listLagMs);
        if (terms.owner) list = list.filter((w) => (terms.owner === 'me' ? w.ownerId === user.id : this.owner(w).username === terms.owner));
        if (terms.name) list = list.filter((w) => w.name.includes(terms.name!)); // Coder matches substrings
        for (const w of list) await this.progress(w, false);
        const offset = Number(url.searchParams.get('offset') ?? 0);
        const limit = Number(url.searchParams.get('limit') ?? 0) || 25;
        return [200, { count: list.length, workspaces: list.slice(offset, offset + limit).map((w) => this.view(w)) }];
      }
      case 'get-workspace-metadata-by-id': {
        const w = this.workspaces.get(seg[4] ?? '');
        if (!w || this.owner(w).id !== user.id) return [404, ERR('Resource not found or you do not have access to this resource')];
        if (w.deleted) return [410, ERR(`Workspace "${w.name}" was deleted, you can view this workspace by specifying 'include_deleted=true' and trying again.`)];
        await this.progress(w, true);
        if (w.deleted) return [410, ERR(`Workspace "${w.name}" was deleted.`)];
        return [200, this.view(w)];
      }
      case 'create-user-workspace': {
        const who = decodeURIComponent(seg[4] ?? '');
        if (who !== 'me' && who !== user.id && who !== user.username) return [403, ERR('Forbidden.')];
        if (body?.template_id && body?.template_version_id) return [400, ERR('You cannot specify both a template ID and a template version ID.')];
        const t = this.templates.find((x) => x.id === body?.template_id || x.active_version_id === body?.template_version_id);
        if (!t) return [400, ERR('Template not found.', 'Invalid template')];
        if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/i.test(body?.name ?? '') || body.name.length > 32) {
          return [400, { message: 'Invalid workspace name.', validations: [{ field: 'name', detail: 'bad name' }] }];
        }
        if (this.live(user.id).some((w) => w.name === body.name)) return [409, ERR(`Workspace "${body.name}" already exists.`)];
        if (body.template_version_preset_id && !t.presets.some((x) => x.id === body.template_version_preset_id)) {
          return [400, ERR('Invalid template version preset.', 'preset does not belong to the template version')];
        }
        // Like coderd's wsbuilder: a preset's values come first, then rich_parameter_values.
        const preset = t.presets.find((x) => x.id === body.template_version_preset_id);
        const fromPreset = preset?.parameters ?? [];
        const values: Array<{ name: string; value: string }> = [
          ...fromPreset,
          ...((body.rich_parameter_values ?? []) as Array<{ name: string; value: string }>).filter((v) => !fromPreset.some((p) => p.name === v.name)),
        ];
        for (const p of t.parameters) {
          if (p.required && !p.default_value && !values.some((v) => v.name === p.name)) {
            return [400, { message: 'Unable to validate parameters.', validations: [{ field: p.name, detail: 'required parameter value is missing' }] }];
          }
        }
        const w = this.newWorkspace(user, body.name, t, values);
        w.presetId = body.template_version_preset_id;
        return [201, this.view(w)];
      }
      case 'create-workspace-build': {
        const w = this.workspaces.get(seg[4] ?? '');
        if (!w || w.deleted || this.owner(w).id !== user.id) return [404, ERR('Resource not found or you do not have access to this resource')];
        if (body?.orphan) this.violations.push(`orphan delete requested for ${w.name}`);
        await this.progress(w, false);
        const last = w.builds.at(-1)!;
        if (['pending', 'running'].includes(last.job.status)) return [409, ERR('A workspace build is already active.')];
        const b = this.newBuild(w, body.transition);
        return [201, this.buildView(w, b)];
      }
      case 'get-all-templates':
        return [200, this.templates.map((t) => this.templateView(t))];
      case 'get-rich-parameters-by-template-version': {
        const t = this.templates.find((x) => x.active_version_id === seg[4]);
        if (!t) return [404, ERR('Template version not found.')];
        return [
          200,
          t.parameters.map((p) => ({ name: p.name, display_name: p.name, required: p.required, default_value: p.default_value, type: p.type, mutable: true, ephemeral: false, form_type: 'input', options: [] })),
        ];
      }
      case 'get-template-version-presets': {
        const t = this.templates.find((x) => x.active_version_id === seg[4]);
        if (!t) return [404, ERR('Template version not found.')];
        // codersdk.Preset has no JSON tags: the wire keys are the Go field names.
        return [
          200,
          t.presets.map((x, i) => ({
            ID: x.id,
            Name: x.name,
            Parameters: (x.parameters ?? []).map((p) => ({ Name: p.name, Value: p.value })),
            Default: i === 0,
            Description: '',
            Icon: '',
            DesiredPrebuildInstances: 0,
          })),
        ];
      }
      case 'fakeAgentSsh': {
        const agentId = seg[3] ?? '';
        const w = this.live(user.id).find((x) => x.builds.at(-1)?.agent?.id === agentId);
        const a = w?.builds.at(-1)?.agent;
        if (!w || !a || a.status !== 'connected' || !w.port) return [404, ERR('agent not connected')];
        this.authorizeLeaseKeys(w);
        return [200, { port: w.port }];
      }
      default:
        this.violations.push(`${method} ${url.pathname}: no such endpoint in the fake`);
        return [404, ERR('Route not found.')];
    }
  }

  // --- model ---------------------------------------------------------------------------------

  private owner(w: FakeWorkspace): FakeUser {
    return [...this.users.values()].find((u) => u.id === w.ownerId)!;
  }

  private newWorkspace(user: FakeUser, name: string, t: FakeTemplate, values: Array<{ name: string; value: string }>): FakeWorkspace {
    const w: FakeWorkspace = { id: randomUUID(), name, ownerId: user.id, template: t, created_at: now(), parameters: values, builds: [], deleted: false };
    this.workspaces.set(w.id, w);
    this.newBuild(w, 'start');
    return w;
  }

  private newBuild(w: FakeWorkspace, transition: FakeBuild['transition']): FakeBuild {
    const b: FakeBuild = {
      id: randomUUID(),
      build_number: w.builds.length + 1,
      transition,
      status: 'pending',
      job: { id: randomUUID(), status: 'pending' },
      created_at: now(),
      template_version_id: w.template.active_version_id,
      polls: this.opts.buildPolls ?? 1,
    };
    w.builds.push(b);
    return b;
  }

  /** Move the latest build (and its agent) one stage on; `consume` is false for list views. */
  private async progress(w: FakeWorkspace, consume: boolean): Promise<void> {
    const b = w.builds.at(-1)!;
    if (!consume) return;
    if (b.polls > 0) {
      b.polls--;
      return;
    }
    const stages: Record<string, string> = { start: 'starting', stop: 'stopping', delete: 'deleting' };
    if (b.status === 'pending') {
      b.status = stages[b.transition]!;
      b.job.status = 'running';
      b.polls = this.opts.buildPolls ?? 1;
      return;
    }
    if (b.job.status === 'running') {
      if (b.transition === 'start') {
        if (w.failStart) {
          b.status = 'failed';
          b.job = { ...b.job, status: 'failed', error: w.failStart };
          return;
        }
        await this.bootBox(w);
        b.status = 'running';
        b.agent = { id: randomUUID(), status: 'connecting', lifecycle_state: 'created', polls: this.opts.agentPolls ?? 1 };
      } else {
        if (w.box) await stopSshd(w.box);
        if (b.transition === 'stop') b.status = 'stopped';
        else {
          b.status = 'deleted';
          w.deleted = true;
          if (w.box) rmSync(w.box.dir, { recursive: true, force: true });
        }
      }
      b.job.status = 'succeeded';
      return;
    }
    const a = b.agent;
    if (b.transition !== 'start' || b.status !== 'running' || !a || w.agentNeverReady) return;
    if (a.polls > 0) {
      a.polls--;
      return;
    }
    if (a.status === 'connecting') {
      a.status = 'connected';
      a.lifecycle_state = 'starting';
      a.polls = this.opts.agentPolls ?? 1;
    } else if (a.lifecycle_state === 'starting') {
      a.lifecycle_state = w.startError ? 'start_error' : 'ready';
    }
  }

  private async bootBox(w: FakeWorkspace): Promise<void> {
    if (!w.box) {
      w.box = boxPaths(`coder-${w.id.slice(0, 8)}`);
      ensureBoxDirs(w.box);
    }
    if (this.rotateHostKeys) {
      for (const f of [w.box.hostKey, `${w.box.hostKey}.pub`]) if (existsSync(f)) unlinkSync(f);
    }
    await ensureHostKey(w.box, `coder-${w.id.slice(0, 8)}`);
    this.authorizeLeaseKeys(w);
    w.port = await startSshd(w.box, { sshdPath: findSshd(), user: userInfo().username, port: w.port, startTimeoutMs: 10_000 });
  }

  /** The agent lets any client key in (coderd authenticated the tunnel); model that with every lease key on disk. */
  private authorizeLeaseKeys(w: FakeWorkspace): void {
    if (!w.box) return;
    const dir = join(this.opts.stateDir, 'leases');
    const keys = existsSync(dir)
      ? readdirSync(dir)
          .map((d) => join(dir, d, 'id_ed25519.pub'))
          .filter((f) => existsSync(f))
          .map((f) => `no-agent-forwarding,no-X11-forwarding ${readFileSync(f, 'utf8').trim()}\n`)
      : [];
    writeFileSync(w.box.authorizedKeys, keys.join(''), { mode: 0o600 });
  }

  // --- views (codersdk shapes) ---------------------------------------------------------------

  private userView(u: FakeUser): Record<string, unknown> {
    return {
      id: u.id,
      username: u.username,
      email: u.email,
      name: u.username,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      last_seen_at: now(),
      status: 'active',
      login_type: 'password',
      organization_ids: [this.orgId],
      roles: [{ name: 'member', display_name: 'Member' }],
      avatar_url: 'https://example.test/a.png',
      theme_preference: '',
    };
  }

  private templateView(t: FakeTemplate): Record<string, unknown> {
    return {
      id: t.id,
      name: t.name,
      display_name: t.name,
      organization_id: t.organization_id,
      organization_name: 'coder',
      active_version_id: t.active_version_id,
      provisioner: 'terraform',
      deprecated: false,
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      default_ttl_ms: 3_600_000,
      activity_bump_ms: 3_600_000,
    };
  }

  buildView(w: FakeWorkspace, b: FakeBuild): Record<string, unknown> {
    const owner = this.owner(w);
    const a = b.agent;
    return {
      id: b.id,
      build_number: b.build_number,
      created_at: b.created_at,
      updated_at: now(),
      workspace_id: w.id,
      workspace_name: w.name,
      workspace_owner_id: owner.id,
      workspace_owner_name: owner.username,
      template_version_id: b.template_version_id,
      template_version_name: 'v1',
      initiator_id: owner.id,
      initiator_name: owner.username,
      transition: b.transition,
      status: b.status,
      reason: 'initiator',
      daily_cost: 0,
      job: { id: b.job.id, status: b.job.status, created_at: b.created_at, ...(b.job.error ? { error: b.job.error } : {}), type: 'workspace_build', organization_id: this.orgId },
      resources:
        b.transition === 'start' && a
          ? [
              {
                id: randomUUID(),
                job_id: b.job.id,
                name: 'dev',
                type: 'docker_container',
                workspace_transition: 'start',
                created_at: b.created_at,
                agents: [
                  {
                    id: a.id,
                    name: 'main',
                    status: a.status,
                    lifecycle_state: a.lifecycle_state,
                    operating_system: 'linux',
                    architecture: 'amd64',
                    created_at: b.created_at,
                    updated_at: now(),
                    version: 'v2.99.0',
                    api_version: '2.0',
                    directory: '/home/coder',
                    expanded_directory: '/home/coder',
                    connection_timeout_seconds: 120,
                    startup_script_behavior: 'non-blocking',
                    health: { healthy: a.status === 'connected' },
                  },
                ],
              },
            ]
          : [],
      ...(w.presetId ? { template_version_preset_id: w.presetId } : {}),
    };
  }

  view(w: FakeWorkspace): Record<string, unknown> {
    const owner = this.owner(w);
    return {
      id: w.id,
      name: w.name,
      owner_id: owner.id,
      owner_name: owner.username,
      organization_id: this.orgId,
      organization_name: 'coder',
      template_id: w.template.id,
      template_name: w.template.name,
      template_display_name: w.template.name,
      template_active_version_id: w.template.active_version_id,
      created_at: w.created_at,
      updated_at: now(),
      last_used_at: now(),
      outdated: false,
      automatic_updates: 'never',
      ttl_ms: 3_600_000,
      health: { healthy: true, failing_agents: [] },
      latest_build: this.buildView(w, w.builds.at(-1)!),
    };
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
