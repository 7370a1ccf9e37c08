/**
 * The one interface every provider implements, and the values that cross the workflow boundary.
 *
 * Everything here that an activity returns ends up in workflow history, so none of these types may
 * carry a secret: keys travel as *paths* on the worker, host keys are public, and scopes are
 * fingerprints rather than credentials.
 */
import { z } from 'zod';

export const ReleaseActionSchema = z.enum(['stop', 'delete', 'keep']);
export type ReleaseAction = z.infer<typeof ReleaseActionSchema>;

/** Destructiveness order: a rollback may never pick an action further right than the lease's own. */
export const RELEASE_ORDER: readonly ReleaseAction[] = ['keep', 'stop', 'delete'];

/** The lease facts an adapter needs to name and mark a resource. */
export interface LeaseRef {
  /** `dbx_<hex>`: the identity everything else derives from. */
  leaseId: string;
  /** Human name (adjective-noun) chosen by the CLI; never trusted for ownership on its own. */
  slug: string;
}

/**
 * What the provider says a box is. Recorded in the lease at create time and compared against the live
 * resource before any destructive call.
 */
export const BoxIdentitySchema = z.object({
  provider: z.string(),
  leaseId: z.string(),
  /** The provider's id for the resource (instance id, workspace id, box dir name…). */
  resourceId: z.string(),
  /** Fingerprint of the account/endpoint the credential resolved to when the box was created. */
  scope: z.string(),
  /** Immutable, non-secret facts the adapter wants back on later calls (uids, names, prices). */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** US$ per hour the provider quoted when the box was created (for budgets and status); absent when free. */
  costPerHour: z.number().nonnegative().optional(),
});
export type BoxIdentity = z.infer<typeof BoxIdentitySchema>;

/** Where and how to reach a ready box over SSH. Public facts only. */
export const SshTargetSchema = z.object({
  user: z.string(),
  host: z.string(),
  port: z.number().int().min(1).max(65535),
  /** Path of the private key *on the worker that holds it*; the bytes never leave that disk. */
  keyPath: z.string(),
  /** Lease-scoped alias so pinned entries never collide with the user's own known_hosts. */
  hostKeyAlias: z.string(),
  /** Pinned host keys as `type base64` pairs (no host column). Empty means "pin at first contact". */
  hostKeys: z.array(z.string()),
  /** Optional ProxyCommand argv (no secrets: its environment is set inside the activity). */
  proxyCommand: z.array(z.string()).optional(),
  /**
   * Names (never values) of worker environment variables the ProxyCommand needs, e.g. a provider
   * CLI's URL and token. Only `ssh`/`rsync` for this target get them, read from the worker's own
   * environment at spawn time (`sshEnv` in common/ssh-options.ts); every other child stays stripped.
   */
  proxyEnv: z.array(z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/)).optional(),
  /** Absolute directory on the box under which `<leaseId>/<repo>` is created. */
  workRoot: z.string(),
});
export type SshTarget = z.infer<typeof SshTargetSchema>;

export interface Capabilities {
  /** `stop` keeps the box and `resume` brings it back. */
  stop: boolean;
  /** `delete` really destroys something (false for static hosts: only the record goes). */
  delete: boolean;
  resume: boolean;
  /** `listOwned` can discover resources by marker (false where only records prove ownership). */
  discover: boolean;
}

export interface ReleaseResult {
  /** What was actually done; may be gentler than asked (e.g. Codespaces dirty → stop). */
  action: ReleaseAction;
  /** True when the resource was verified absent already. */
  alreadyGone: boolean;
  note?: string;
}

export interface OwnedResource {
  resourceId: string;
  leaseId: string;
  state: string;
  createdAt?: string;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** Hooks the activity hands to long-running verbs so they heartbeat and stop when cancelled. */
export interface ProgressContext {
  heartbeat(details?: unknown): void;
  signal: AbortSignal;
  log(message: string): void;
}

export interface CreateRequest extends LeaseRef {
  /** Public half of the per-lease key, for providers that install it on the box. */
  publicKey: string;
  /** Path of the per-lease private key on this worker. */
  keyPath: string;
}

/**
 * A provider behind durabox. Every verb may run more than once (activity retries, worker crashes) and
 * must be safe to repeat.
 */
export interface ProviderAdapter {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** The provider's documented default; rollback and cleanup fall back to it. */
  readonly defaultReleaseAction: ReleaseAction;
  /** Create one box for this lease. Callers run `findByLease` first; adapters may check again. */
  create(req: CreateRequest, ctx: ProgressContext): Promise<BoxIdentity>;
  /** Resources carrying this lease's marker. Never mutates. */
  findByLease(lease: LeaseRef): Promise<BoxIdentity[]>;
  /** Poll until the box accepts SSH; returns the target (host key pinned or to pin at first contact). */
  waitReady(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget>;
  /** Revalidate ownership, then apply the action. A verified not-found counts as released. */
  release(box: BoxIdentity, action: ReleaseAction, ctx: ProgressContext): Promise<ReleaseResult>;
  /** Start a stopped box again; never creates a replacement. */
  resume(box: BoxIdentity, ctx: ProgressContext): Promise<SshTarget>;
  /**
   * Optional: install another worker's per-lease public key on the box, so a fleet worker can take
   * over a lease whose creating worker is gone. Providers that log in with the user's own key
   * (static hosts, gateways) do not need it.
   */
  authorize?(box: BoxIdentity, publicKey: string, ctx: ProgressContext): Promise<void>;
  /** Everything that carries durabox's marker in this provider's scope. */
  listOwned(): Promise<OwnedResource[]>;
  /** Read-only preflight. */
  doctor(): Promise<DoctorCheck[]>;
}

/** True when `candidate` is no more destructive than `limit`. */
export function notMoreDestructive(candidate: ReleaseAction, limit: ReleaseAction): boolean {
  return RELEASE_ORDER.indexOf(candidate) <= RELEASE_ORDER.indexOf(limit);
}
