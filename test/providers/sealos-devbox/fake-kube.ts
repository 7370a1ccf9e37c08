/**
 * A fake Kubernetes API server for the sealos-devbox tests: real HTTP on 127.0.0.1 (node:http),
 * the paths the adapter uses, with Kubernetes semantics where they matter:
 *
 * - Bearer-token auth (401 Status otherwise); every request recorded (with its Authorization).
 * - Devbox custom resources (devbox.sealos.io/v1alpha2): list with label selectors, create
 *   (409 AlreadyExists), get, JSON merge patch (409 on a stale metadata.resourceVersion; the CRD's
 *   CEL rule on spec.state changes → 422), delete with uid/resourceVersion preconditions (409) and
 *   a finalizer the controller removes. uid and resourceVersion are kept like the API server does.
 * - Discovery for the group version, Secrets (read), Events (list by involvedObject.name),
 *   SelfSubjectRulesReview.
 * - A controller loop that moves a Devbox Pending → Running (starting a REAL local sshd box),
 *   creates its Secret (ed25519 key pair, controller ownerReference to the Devbox), publishes the
 *   NodePort, pauses/stops it (sshd stopped, volume kept) and finalizes deletes.
 * - Every request body and response is validated against the CRD / Kubernetes schema subset
 *   (schema-check.ts); problems land in `violations`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { runProcess } from '../../../providers/common/exec.js';
import { boxPaths, ensureBoxDirs, type BoxPaths } from '../../../providers/local/box.js';
import { ensureHostKey, findSshd, hostPublicKey, startSshd, stopSshd } from '../../../providers/local/sshd.js';
import { checkDevbox, checkKube } from './schema-check.js';

type Obj = Record<string, any>;
const G = 'devbox.sealos.io';
const V = 'v1alpha2';

export interface RequestRecord {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: unknown;
}

interface BoxState {
  paths: BoxPaths;
  port?: number;
  busy: boolean;
}

export class FakeKube {
  readonly token = `fake-${randomBytes(24).toString('hex')}`;
  readonly devboxes = new Map<string, Obj>();
  readonly secrets = new Map<string, Obj>();
  readonly events: Obj[] = [];
  readonly requests: RequestRecord[] = [];
  readonly violations: string[] = [];
  readonly boxes = new Map<string, BoxState>();
  /** Devbox names that never get a published node port. */
  readonly withholdNodePort = new Set<string>();
  /** Devbox names whose Secret names another controller owner. */
  readonly wrongSecretOwner = new Map<string, Obj>();
  /** Devbox name → the port its sshd should listen on (SSHGate tests configure the gateway port up front). */
  readonly portFor = new Map<string, number>();
  /** Devbox names that fail to start (phase Error). */
  readonly failToStart = new Set<string>();
  /** One-shot: something else writes the object between our read and this PATCH/DELETE. */
  racePatch = 0;
  raceDelete: ((obj: Obj) => void) | undefined;
  /** One-shot: the next create is applied, then answered with this status (an ambiguous create). */
  failCreateAfterApply: number | undefined;
  /** Namespace-scoped rules the rules review reports. */
  rules: Obj[] = [
    { verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'], apiGroups: [G], resources: ['devboxes'] },
    { verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets', 'events', 'pods'] },
  ];
  private rv = 1000;
  private server!: Server;
  private timer?: NodeJS.Timeout;
  private reconciling = false;
  port = 0;

  static async start(): Promise<FakeKube> {
    const f = new FakeKube();
    f.server = createServer((req, res) => {
      f.handle(req, res).catch((e: unknown) => {
        f.violations.push(`fake crashed: ${(e as Error).stack}`);
        if (!res.headersSent) res.writeHead(500).end('fake crashed');
      });
    });
    await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', r));
    f.port = (f.server.address() as { port: number }).port;
    f.timer = setInterval(() => void f.reconcile(), 20);
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig pointing at this server (token auth; http is allowed only because it is loopback). */
  kubeconfig(file: string, namespace = 'ns-dev', token = this.token): string {
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        '  cluster:',
        `    server: ${this.url}`,
        '    insecure-skip-tls-verify: true',
        'contexts:',
        '- name: fake-ctx',
        '  context:',
        '    cluster: fake',
        '    user: dev',
        `    namespace: ${namespace}`,
        '- name: other-ctx',
        '  context:',
        '    cluster: fake',
        '    user: dev',
        '    namespace: ns-other',
        'current-context: fake-ctx',
        'users:',
        '- name: dev',
        '  user:',
        `    token: ${token}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return file;
  }

  nextRV(): string {
    return String(++this.rv);
  }

  get(ns: string, name: string): Obj | undefined {
    return this.devboxes.get(`${ns}/${name}`);
  }

  /** Someone else's Devbox (no sshd behind it). */
  addForeign(ns: string, name: string, labels: Record<string, string>): Obj {
    const obj: Obj = {
      apiVersion: `${G}/${V}`,
      kind: 'Devbox',
      metadata: { name, namespace: ns, uid: randomUUID(), resourceVersion: this.nextRV(), labels, creationTimestamp: new Date().toISOString() },
      spec: { state: 'Running', image: 'foreign:1', resource: { cpu: '1', memory: '1Gi' }, network: { type: 'NodePort' }, config: { user: 'devbox' } },
      status: { phase: 'Running', state: 'Running', commitRecords: {}, foreign: undefined },
    };
    delete obj.status.foreign;
    this.devboxes.set(`${ns}/${name}`, obj);
    return obj;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    while (this.reconciling) await new Promise((r) => setTimeout(r, 10));
    for (const b of this.boxes.values()) await stopSshd(b.paths).catch(() => undefined);
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // --- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: any;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.violations.push(`${method} ${url.pathname}: body is not JSON`);
      }
    }
    this.requests.push({ method, url: req.url ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
    const send = (status: number, payload: Obj, check?: (o: Obj) => string[]) => {
      const problems = status >= 400 ? checkKube('meta.v1.Status', payload, 'Status') : check ? check(payload) : [];
      for (const p of problems) this.violations.push(`response ${method} ${url.pathname}: ${p}`);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const fail = (code: number, reason: string, message: string) => send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(401, 'Unauthorized', 'Unauthorized');

    let m: RegExpMatchArray | null;
    if (method === 'GET' && url.pathname === `/apis/${G}/${V}`) {
      return send(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${G}/${V}`, resources: [{ name: 'devboxes', singularName: 'devbox', namespaced: true, kind: 'Devbox', verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'] }, { name: 'devboxes/status', singularName: '', namespaced: true, kind: 'Devbox', verbs: ['get', 'patch', 'update'] }] });
    }
    if (method === 'POST' && url.pathname === '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews') {
      for (const p of checkKube('authorization.v1.SelfSubjectRulesReview', body, 'request')) this.violations.push(p);
      return send(201, { ...body, metadata: {}, status: { resourceRules: this.rules, nonResourceRules: [], incomplete: false } }, (o) => checkKube('authorization.v1.SelfSubjectRulesReview', o, 'SelfSubjectRulesReview'));
    }
    if ((m = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/)) && method === 'GET') {
      const s = this.secrets.get(`${m[1]}/${m[2]}`);
      return s ? send(200, s, (o) => checkKube('core.v1.Secret', o, 'Secret')) : fail(404, 'NotFound', `secrets "${m[2]}" not found`);
    }
    if ((m = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/events$/)) && method === 'GET') {
      const name = /^involvedObject\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      const items = this.events.filter((e) => e.metadata.namespace === m![1] && (!name || e.involvedObject.name === name));
      return send(200, { kind: 'EventList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }, (o) => checkKube('core.v1.EventList', o, 'EventList'));
    }
    if ((m = url.pathname.match(new RegExp(`^/apis/${G}/${V}/namespaces/([^/]+)/devboxes(?:/([^/]+))?$`)))) {
      return this.devboxRoute(method, m[1]!, m[2], url, body, send, fail);
    }
    this.violations.push(`${method} ${url.pathname}: no such endpoint in the fake`);
    return fail(404, 'NotFound', 'the server could not find the requested resource');
  }

  private devboxRoute(method: string, ns: string, name: string | undefined, url: URL, body: any, send: (s: number, p: Obj, c?: (o: Obj) => string[]) => void, fail: (c: number, r: string, m: string) => void): void {
    const check = (o: Obj) => checkDevbox(o, 'Devbox');
    const key = `${ns}/${name}`;
    const cur = name ? this.devboxes.get(key) : undefined;
    const notFound = () => fail(404, 'NotFound', `devboxes.${G} "${name}" not found`);
    if (!name && method === 'GET') {
      const sel = parseSelector(url.searchParams.get('labelSelector'));
      const items = [...this.devboxes.values()].filter((d) => d.metadata.namespace === ns && Object.entries(sel).every(([k, v]) => d.metadata.labels?.[k] === v));
      return send(200, { apiVersion: `${G}/${V}`, kind: 'DevboxList', metadata: { resourceVersion: String(this.rv) }, items }, (o) => o.items.flatMap((i: Obj) => check(i)));
    }
    if (!name && method === 'POST') {
      for (const p of checkDevbox(body, 'request')) this.violations.push(p);
      if (body?.metadata?.namespace && body.metadata.namespace !== ns) return fail(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      const bkey = `${ns}/${body?.metadata?.name}`;
      if (this.devboxes.has(bkey)) return fail(409, 'AlreadyExists', `devboxes.${G} "${body.metadata.name}" already exists`);
      const obj: Obj = structuredClone(body);
      obj.metadata = { ...obj.metadata, namespace: ns, uid: randomUUID(), resourceVersion: this.nextRV(), generation: 1, creationTimestamp: new Date().toISOString(), finalizers: [`${G}/finalizer`] };
      delete obj.status; // status subresource: ignored on create
      this.devboxes.set(bkey, obj);
      this.event(obj, 'Created', 'Devbox created');
      if (this.failCreateAfterApply) {
        const code = this.failCreateAfterApply;
        this.failCreateAfterApply = undefined;
        return fail(code, code === 504 ? 'Timeout' : 'InternalError', 'etcdserver: request timed out');
      }
      return send(201, obj, check);
    }
    if (!cur) return notFound();
    if (method === 'GET') return send(200, cur, check);
    if (method === 'PATCH') {
      if (!/^application\/merge-patch\+json/.test(this.requests.at(-1)!.contentType ?? '')) this.violations.push(`PATCH ${name}: content-type ${this.requests.at(-1)!.contentType}`);
      if (body?.metadata?.resourceVersion === undefined) this.violations.push(`PATCH ${name}: no metadata.resourceVersion (optimistic concurrency)`);
      if (this.racePatch > 0) {
        this.racePatch--;
        cur.metadata.resourceVersion = this.nextRV(); // the controller wrote status in between
      }
      if (body?.metadata?.resourceVersion !== undefined && body.metadata.resourceVersion !== cur.metadata.resourceVersion) {
        return fail(409, 'Conflict', `Operation cannot be fulfilled on devboxes.${G} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      const next = mergePatch(structuredClone(cur), { ...body, status: undefined }) as Obj;
      next.status = cur.status;
      next.metadata.uid = cur.metadata.uid;
      next.metadata.name = cur.metadata.name;
      if (next.spec.state !== cur.spec.state) {
        const st = cur.status ?? {};
        const rec = st.contentID ? st.commitRecords?.[st.contentID] : undefined;
        if (!rec || rec.commitStatus === 'Committing') {
          return fail(422, 'Invalid', `Devbox.${G} "${name}" is invalid: <nil>: Invalid value: "object": failed rule: self.spec.state == oldSelf.spec.state || (self.status.contentID in self.status.commitRecords && self.status.commitRecords[self.status.contentID].commitStatus != 'Committing')`);
        }
        next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      }
      for (const p of check(next)) this.violations.push(`patched object: ${p}`);
      next.metadata.resourceVersion = this.nextRV();
      this.devboxes.set(key, next);
      return send(200, next, check);
    }
    if (method === 'DELETE') {
      const pre = body?.preconditions;
      if (!pre?.uid || !pre?.resourceVersion) this.violations.push(`DELETE ${name}: without uid and resourceVersion preconditions`);
      if (body?.kind !== 'DeleteOptions' || body?.propagationPolicy !== 'Background') this.violations.push(`DELETE ${name}: body ${JSON.stringify(body)}`);
      if (this.raceDelete) {
        const f = this.raceDelete;
        this.raceDelete = undefined;
        f(cur);
      }
      const now = this.devboxes.get(key)!;
      if (pre?.uid && pre.uid !== now.metadata.uid) {
        return fail(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${now.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== now.metadata.resourceVersion) {
        return fail(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${now.metadata.resourceVersion}`);
      }
      if (!now.metadata.deletionTimestamp) {
        now.metadata.deletionTimestamp = new Date().toISOString();
        now.metadata.resourceVersion = this.nextRV();
      }
      return send(200, now, check);
    }
    return fail(405, 'MethodNotAllowed', `method ${method} not allowed`);
  }

  // --- controller ----------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      for (const [key, d] of [...this.devboxes]) {
        if (!d.metadata.finalizers) continue; // foreign fixtures have no controller behind them
        await this.reconcileOne(key, d).catch((e: unknown) => this.violations.push(`controller: ${(e as Error).message}`));
      }
    } finally {
      this.reconciling = false;
    }
  }

  private setStatus(d: Obj, patch: Obj): void {
    d.status = { commitRecords: {}, ...d.status, ...patch };
    d.metadata.resourceVersion = this.nextRV();
  }

  private async reconcileOne(key: string, d: Obj): Promise<void> {
    const name = d.metadata.name as string;
    const ns = d.metadata.namespace as string;
    const uid = d.metadata.uid as string;
    if (d.metadata.deletionTimestamp) {
      const b = this.boxes.get(uid);
      if (b) {
        await stopSshd(b.paths);
        rmSync(b.paths.dir, { recursive: true, force: true });
        this.boxes.delete(uid);
      }
      this.secrets.delete(`${ns}/${name}`);
      this.devboxes.delete(key);
      return;
    }
    let box = this.boxes.get(uid);
    if (!box) {
      const paths = boxPaths(`sealos-${uid.slice(0, 8)}`);
      ensureBoxDirs(paths);
      await ensureHostKey(paths, name);
      box = { paths, busy: false };
      this.boxes.set(uid, box);
    }
    if (!this.secrets.has(`${ns}/${name}`)) await this.makeSecret(d, box);
    // As the controller's initDevboxStatus does on its first reconcile, before any pod runs: a
    // content id with a Pending commit record (so the CRD's CEL rule lets even a Devbox that never
    // started change state).
    if (!d.status?.contentID) {
      const cid = randomUUID();
      this.setStatus(d, {
        contentID: cid,
        commitRecords: { ...(d.status?.commitRecords ?? {}), [cid]: { commitStatus: 'Pending', baseImage: d.spec.image, node: '', generateTime: new Date().toISOString() } },
      });
    }
    const want = d.spec.state as string;
    const phase = d.status?.phase as string | undefined;
    if (want === 'Running') {
      if (this.failToStart.has(name)) {
        if (phase !== 'Error') {
          this.setStatus(d, { phase: 'Error', state: 'Running', conditions: [{ type: 'PodSynced', status: 'False', reason: 'ImagePullBackOff', message: `Back-off pulling image "${d.spec.image}"`, lastTransitionTime: new Date().toISOString() }] });
          this.event(d, 'Failed', `Failed to pull image "${d.spec.image}"`, 'Warning');
        }
        return;
      }
      if (phase === undefined || STOPPED.has(phase)) return this.setStatus(d, { phase: 'Pending', state: 'Running' });
      if (phase === 'Pending') {
        box.port = await startSshd(box.paths, { sshdPath: findSshd(), user: userInfo().username, port: this.portFor.get(name) ?? box.port, startTimeoutMs: 10_000 });
        const cid = randomUUID();
        const network: Obj = { type: d.spec.network.type };
        if (d.spec.network.type === 'NodePort' && !this.withholdNodePort.has(name)) network.nodePort = box.port;
        this.setStatus(d, {
          phase: 'Running',
          state: 'Running',
          node: 'fake-node-1',
          network,
          contentID: cid,
          commitRecords: { ...(d.status?.commitRecords ?? {}), [cid]: { commitStatus: 'Success', baseImage: d.spec.image, node: 'fake-node-1', generateTime: new Date().toISOString() } },
          observedGeneration: d.metadata.generation,
        });
        this.event(d, 'Started', 'Devbox is running');
      }
      return;
    }
    // A Devbox whose pod never started (Error) is paused or stopped like a running one: the pod goes.
    if (phase === 'Running' || phase === 'Pending' || phase === 'Error') {
      await stopSshd(box.paths);
      this.setStatus(d, { phase: want, state: want, network: { type: d.spec.network.type, ...(d.status?.network?.nodePort ? { nodePort: d.status.network.nodePort } : {}) } });
      this.event(d, want, `Devbox is ${want.toLowerCase()}`);
    }
  }

  private async makeSecret(d: Obj, box: BoxState): Promise<void> {
    const f = join(box.paths.dir, 'devbox_key');
    rmSync(f, { force: true });
    rmSync(`${f}.pub`, { force: true });
    const r = await runProcess('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sealos-devbox', '-f', f]);
    if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
    const priv = readFileSync(f);
    const pub = readFileSync(`${f}.pub`, 'utf8').trim();
    rmSync(f);
    writeFileSync(box.paths.authorizedKeys, `${pub}\n`, { mode: 0o600 });
    const owner = this.wrongSecretOwner.get(d.metadata.name) ?? { apiVersion: `${G}/${V}`, kind: 'Devbox', name: d.metadata.name, uid: d.metadata.uid, controller: true, blockOwnerDeletion: true };
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    const secret: Obj = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: randomUUID(), resourceVersion: this.nextRV(), labels: { 'app.kubernetes.io/part-of': 'devbox', 'app.kubernetes.io/name': d.metadata.name }, ownerReferences: [owner], creationTimestamp: new Date().toISOString() },
      type: 'Opaque',
      data: { SEALOS_DEVBOX_PUBLIC_KEY: b64(pub), SEALOS_DEVBOX_PRIVATE_KEY: b64(priv), SEALOS_DEVBOX_AUTHORIZED_KEYS: b64(`${pub}\n`), SEALOS_DEVBOX_JWT_SECRET: b64(randomBytes(16).toString('hex')) },
    };
    this.secrets.set(`${d.metadata.namespace}/${d.metadata.name}`, secret);
  }

  /** The host key of a Devbox's sshd (for SSHGate tests, which pin a configured key). */
  hostKeyOf(uid: string): string {
    return hostPublicKey(this.boxes.get(uid)!.paths);
  }

  sshPortOf(uid: string): number | undefined {
    return this.boxes.get(uid)?.port;
  }

  private event(d: Obj, reason: string, message: string, type = 'Normal'): void {
    const now = new Date().toISOString();
    this.events.push({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${d.metadata.name}.${randomBytes(4).toString('hex')}`, namespace: d.metadata.namespace, uid: randomUUID(), resourceVersion: this.nextRV(), creationTimestamp: now },
      involvedObject: { apiVersion: `${G}/${V}`, kind: 'Devbox', name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid },
      reason,
      message,
      type,
      source: { component: 'devbox-controller' },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}

const STOPPED = new Set(['Paused', 'Stopped', 'Shutdown']);

function parseSelector(s: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    out[k!] = v ?? '';
  }
  return out;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const t: Obj = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Obj) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) delete t[k];
    else t[k] = mergePatch(t[k], v);
  }
  return t;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
