/**
 * The Kubernetes side of the provider, through @kubernetes/client-node (kubeconfig parsing, exec
 * and OIDC auth plugins, TLS from the kubeconfig, CustomObjectsApi). One place decides how a
 * failed call becomes a ProviderError:
 *
 * - 401/403 → `auth`; 404 → returned as `null` by the getters; 409 → `conflict` (the caller reads
 *   `reason`: AlreadyExists vs a stale resourceVersion / failed precondition); 422 → `invalid`
 *   (the CRD's CEL state-change rule is reported as `transient` by the caller);
 * - 408/429/5xx and transport errors → `transient`, or `ambiguous` for a create;
 * - an answer of the wrong shape → `invalid`.
 *
 * Credentials stay inside the client: we never read tokens or key data out of the kubeconfig except
 * to redact them from messages, never pass them to a child process, and never log them.
 */
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { z } from 'zod';
import { ProviderError, type ProviderErrorKind } from '../errors.js';
import type { SealosConfig } from './config.js';
import { addRedaction, GROUP, PLURAL, PROVIDER, redact, VERSION } from './markers.js';
import {
  ApiResourceListSchema, DevboxListSchema, DevboxSchema, EventListSchema, RulesReviewSchema, SecretSchema, StatusSchema,
  type Devbox, type KubeSecret, type KubeStatus,
} from './schemas.js';

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

export interface KubeTarget {
  server: string;
  context: string;
  namespace: string;
}

export interface CallOpts {
  operation: string;
  leaseId?: string;
}

export class Kube {
  readonly target: KubeTarget;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly authz: AuthorizationV1Api;

  constructor(private readonly config: SealosConfig) {
    const kc = new KubeConfig();
    const where = config.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    try {
      if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
      else kc.loadFromDefault();
    } catch (e) {
      throw this.err('auth', 'kubeconfig', `cannot load kubeconfig ${where}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (config.context) {
      if (!kc.getContextObject(config.context)) {
        throw this.err('invalid', 'kubeconfig', `context ${JSON.stringify(config.context)} is not in kubeconfig ${where} (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      }
      kc.setCurrentContext(config.context);
    }
    const ctx = kc.getContextObject(kc.getCurrentContext());
    const cluster = kc.getCurrentCluster();
    if (!ctx || !cluster) throw this.err('invalid', 'kubeconfig', `kubeconfig ${where} has no current context with a cluster; pass --sealos-context`);
    let url: URL;
    try {
      url = new URL(cluster.server);
    } catch {
      throw this.err('invalid', 'kubeconfig', `cluster ${cluster.name} has no valid server URL`);
    }
    const loopback = LOOPBACK.test(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
      throw this.err('invalid', 'kubeconfig', `cluster ${cluster.name}: server must use https (plain http only on loopback)`);
    }
    if (cluster.skipTLSVerify && !loopback) {
      throw this.err('invalid', 'kubeconfig', `cluster ${cluster.name} sets insecure-skip-tls-verify; durabox sends credentials only over verified TLS`);
    }
    const user = kc.getCurrentUser();
    for (const s of [user?.token, user?.password, user?.keyData, user?.certData, cluster.caData]) addRedaction(s);
    this.target = { server: `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`, context: ctx.name, namespace: config.namespace ?? ctx.namespace ?? 'default' };
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
  }

  /** Everything that says where boxes live; hashed into a label, readable in the BoxIdentity. */
  scope(): string {
    const c = this.config;
    const route = c.network === 'SSHGate' ? `SSHGate@${c.gatewayHost ?? '?'}:${c.gatewayPort}` : `NodePort@${c.nodeHost ?? '?'}`;
    return `${this.target.server}#${this.target.context}/${this.target.namespace}|${route}`;
  }

  private base() {
    return { group: GROUP, version: VERSION, namespace: this.target.namespace, plural: PLURAL };
  }

  async getDevbox(name: string, o: CallOpts): Promise<Devbox | null> {
    return this.call(o, DevboxSchema, () => this.custom.getNamespacedCustomObject({ ...this.base(), name }), { notFound: true, retries: 3 });
  }

  async listDevboxes(labelSelector: string, o: CallOpts): Promise<Devbox[]> {
    const out: Devbox[] = [];
    let cont: string | undefined;
    for (let page = 0; page < 100; page++) {
      const list = await this.call(o, DevboxListSchema, () => this.custom.listNamespacedCustomObject({ ...this.base(), labelSelector, limit: 250, _continue: cont }), { retries: 3 });
      out.push(...list!.items);
      cont = list!.metadata?.continue || undefined;
      if (!cont) return out;
    }
    throw this.err('invalid', o.operation, 'more than 100 pages of devboxes', o.leaseId);
  }

  async createDevbox(body: object, o: CallOpts): Promise<Devbox> {
    return (await this.call(o, DevboxSchema, () => this.custom.createNamespacedCustomObject({ ...this.base(), body }), { creates: true }))!;
  }

  /** JSON merge patch (`application/merge-patch+json`); the caller puts resourceVersion in it. */
  async patchDevbox(name: string, body: object, o: CallOpts): Promise<Devbox | null> {
    return this.call(o, DevboxSchema, () => this.custom.patchNamespacedCustomObject({ ...this.base(), name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)), { notFound: true });
  }

  /** DELETE with uid and resourceVersion preconditions; false when the server said 404. */
  async deleteDevbox(name: string, uid: string, resourceVersion: string, o: CallOpts): Promise<boolean> {
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid, resourceVersion }, propagationPolicy: 'Background' };
    const r = await this.call(o, null, () => this.custom.deleteNamespacedCustomObject({ ...this.base(), name, body }), { notFound: true });
    return r !== null;
  }

  async getSecret(name: string, o: CallOpts): Promise<KubeSecret | null> {
    return this.call(o, SecretSchema, () => this.core.readNamespacedSecret({ name, namespace: this.target.namespace }), { notFound: true, retries: 3 });
  }

  /** Recent events about one object, newest last, as short "Reason: message" lines. */
  async events(name: string, o: CallOpts): Promise<string[]> {
    const list = await this.call(o, EventListSchema, () => this.core.listNamespacedEvent({ namespace: this.target.namespace, fieldSelector: `involvedObject.name=${name}` }), { retries: 1 });
    return list!.items.slice(-5).map((e) => `${e.reason ?? e.type ?? 'Event'}: ${(e.message ?? '').slice(0, 200)}`);
  }

  async discovery(o: CallOpts) {
    return this.call(o, ApiResourceListSchema, () => this.custom.getAPIResources({ group: GROUP, version: VERSION }), { notFound: true });
  }

  async rulesReview(o: CallOpts) {
    const body = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: this.target.namespace } };
    return (await this.call(o, RulesReviewSchema, () => this.authz.createSelfSubjectRulesReview({ body }), {}))!;
  }

  // --- one place for errors ------------------------------------------------------------------

  private async call<T>(
    o: CallOpts,
    schema: z.ZodType<T> | null,
    fn: () => Promise<unknown>,
    opts: { notFound?: boolean; retries?: number; creates?: boolean },
  ): Promise<T | null> {
    for (let attempt = 0; ; attempt++) {
      let raw: unknown;
      try {
        raw = await withTimeout(fn(), this.config.requestTimeoutMs);
      } catch (e) {
        const status = e instanceof ApiException ? e.code : undefined;
        if (status === 404 && opts.notFound) return null;
        const err = this.fromFailure(e, o);
        const retryable = err.kind === 'transient' && !opts.creates;
        if (retryable && attempt < (opts.retries ?? 0)) {
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          continue;
        }
        throw err;
      }
      if (!schema) return raw as T;
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw this.err('invalid', o.operation, `Kubernetes answered ${o.operation} with an unexpected shape at ${i.path.join('.') || 'top'}: ${i.message}`, o.leaseId);
      }
      return parsed.data;
    }
  }

  /** Map a failed call; `status.reason` rides in the message and on `conflictReason`. */
  fromFailure(e: unknown, o: CallOpts): ProviderError {
    if (e instanceof ApiException) {
      const st = parseStatus(e.body);
      const code = e.code;
      const what = `${o.operation}: ${code}${st.reason ? ` ${st.reason}` : ''}${st.message ? `: ${st.message.slice(0, 300)}` : ''}`;
      const hint = code === 401 ? ' (check the kubeconfig credentials for this context)' : code === 403 ? ` (RBAC: the context's user may not do this in namespace ${this.target.namespace}; see durabox doctor)` : '';
      let kind: ProviderErrorKind;
      if (code === 401 || code === 403) kind = 'auth';
      else if (code === 409) kind = 'conflict';
      else if (code === 422 || code === 400) kind = 'invalid';
      else if (code === 404) kind = 'gone';
      else if (code === 408 || code === 429 || code >= 500) kind = 'transient';
      else kind = 'invalid';
      if (o.operation === 'create' && (code === 408 || code === 429 || code >= 500)) kind = 'ambiguous';
      const err = this.err(kind, o.operation, `Kubernetes ${what}${hint}`, o.leaseId, code);
      (err as ProviderError & { reason?: string }).reason = st.reason;
      return err;
    }
    if (e instanceof ProviderError) return e;
    const cause = (e as { cause?: { code?: string } })?.cause?.code ?? (e as { code?: string })?.code;
    const notSent = cause && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(cause);
    const kind: ProviderErrorKind = o.operation === 'create' && !notSent ? 'ambiguous' : 'transient';
    return this.err(kind, o.operation, `Kubernetes ${o.operation} at ${this.target.server} failed: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}${cause ? ` (${cause})` : ''}`, o.leaseId);
  }

  err(kind: ProviderErrorKind, operation: string, message: string, leaseId?: string, status?: number): ProviderError {
    return new ProviderError(kind, redact(message), { provider: PROVIDER, operation, leaseId, status });
  }
}

function parseStatus(body: unknown): KubeStatus {
  let v = body;
  if (typeof body === 'string') {
    try {
      v = JSON.parse(body);
    } catch {
      return { message: body.slice(0, 200) };
    }
  }
  const p = StatusSchema.safeParse(v);
  return p.success ? p.data : {};
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    }),
  ]);
}
