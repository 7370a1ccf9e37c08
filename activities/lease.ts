/**
 * Lease verbs: thin wrappers that resolve the provider, call it, and keep the two promises the
 * workflow relies on: create never makes a second box (it looks for this lease's marker first), and
 * release never touches a box that is not this lease's, nor does more than the action asked.
 */
import { rmSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import type { SshTarget } from '../providers/adapter.js';
import { pinHostKey } from '../providers/common/host-key.js';
import { ensureLeaseKey } from '../providers/common/keys.js';
import { leaseDir, safeSegment } from '../providers/common/state-dir.js';
import { shellQuote, sshExec } from '../providers/common/remote.js';
import { ProviderError } from '../providers/errors.js';
import { getProvider } from '../providers/adapters.js';
import { translated } from './failures.js';
import { keepingAlive } from './progress.js';
import { holdPoint } from './test-hooks.js';
import { CLIENT_PUBLIC_KEY } from '../workflows/messages.js';
import type { AuthorizeClientInput, BoxInput, CreateBoxInput, CreateBoxResult, ReleaseBoxInput, ReleaseBoxResult } from './types.js';

export async function createBox(input: CreateBoxInput): Promise<CreateBoxResult> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    const lease = { leaseId: input.leaseId, slug: input.slug };
    const found = await adapter.findByLease(lease);
    if (found.length > 1) {
      throw new ProviderError('ownership', `${found.length} boxes carry lease ${input.leaseId}'s marker; refusing to pick one`, {
        provider: input.provider,
        operation: 'create',
        leaseId: input.leaseId,
      });
    }
    if (found.length === 1) {
      Context.current().log.info('adopting the box an earlier attempt created', { resourceId: found[0].resourceId });
      return { box: found[0], defaultReleaseAction: adapter.defaultReleaseAction, adopted: true };
    }
    const key = await ensureLeaseKey(input.leaseId);
    // Keep beating through slow provider calls: a silent attempt is retried while it still runs.
    const box = await keepingAlive((progress) => adapter.create({ ...lease, publicKey: key.publicKey, keyPath: key.keyPath }, progress));
    await holdPoint('after-create');
    return { box, defaultReleaseAction: adapter.defaultReleaseAction, adopted: false };
  });
}

export async function waitBoxReady(input: BoxInput): Promise<SshTarget> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    await holdPoint('wait-ready');
    // Each probe may take longer than the heartbeat timeout on a slow box: keep beating meanwhile.
    return keepingAlive(async (progress) => {
      const target = await adapter.waitReady(input.box, progress);
      // Providers that publish the host key pin it already; the rest are pinned at first contact.
      return pinHostKey(target);
    });
  });
}

/**
 * A fleet worker takes over a lease whose worker is gone: its own copy of the lease key is let in
 * (where the provider needs one), and the box is reached again with the host key the lease pinned.
 */
export async function adoptBox(input: BoxInput & { pinnedHostKeys?: string[] }): Promise<SshTarget> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    const key = await ensureLeaseKey(input.box.leaseId);
    const target = await keepingAlive(async (progress) => {
      if (adapter.authorize) await adapter.authorize(input.box, key.publicKey, progress);
      return adapter.waitReady(input.box, progress);
    });
    // Never re-trust on first use: a key pinned earlier in this lease stays the only one accepted.
    const hostKeys = target.hostKeys.length ? target.hostKeys : (input.pinnedHostKeys ?? []);
    return pinHostKey({ ...target, hostKeys });
  });
}

/**
 * Let a client on another machine reach the box with its own key (`durabox run` against a remote
 * worker syncs and follows output itself). Providers without `authorize` log in with a configured
 * key only: the client must have that key.
 */
export async function authorizeClient(input: AuthorizeClientInput): Promise<{ authorized: boolean }> {
  return translated(async () => {
    if (!CLIENT_PUBLIC_KEY.test(input.publicKey)) {
      throw new ProviderError('invalid', 'a client key must be a bare "ssh-ed25519 <base64>" public key', {
        provider: input.provider,
        operation: 'authorize',
        leaseId: input.box.leaseId,
      });
    }
    const adapter = getProvider(input.provider, input.providerConfig);
    if (adapter.authorize) {
      await keepingAlive((progress) => adapter.authorize!(input.box, input.publicKey, progress));
      return { authorized: true };
    }
    // A box durabox created (and may delete) is ours to let a key into; a user's own host
    // (static ssh, gateways) is never changed: there the client needs the configured key.
    if (!adapter.capabilities.delete || !input.target) return { authorized: false };
    await appendAuthorizedKey(input.target, input.publicKey, input.box.leaseId);
    return { authorized: true };
  });
}

/** Append `publicKey` to the login user's authorized_keys once, marked with the lease. */
async function appendAuthorizedKey(target: SshTarget, publicKey: string, leaseId: string): Promise<void> {
  const line = shellQuote(`${publicKey} durabox-client-${safeSegment(leaseId)}`);
  const res = await sshExec(
    target,
    `umask 077; mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && { grep -qxF ${line} ~/.ssh/authorized_keys || printf '%s\\n' ${line} >> ~/.ssh/authorized_keys; }`,
    { timeoutMs: 60_000 },
  );
  if (res.code !== 0) {
    throw new ProviderError('transient', `could not let the client key in (exit ${res.code}): ${res.stderr.trim().slice(0, 200)}`, {
      provider: 'ssh',
      operation: 'authorize',
      leaseId,
      status: res.code,
    });
  }
}

/**
 * Start a box this lease stopped earlier (a new execution of the lease resumes it). This worker's
 * copy of the lease key is let in where the provider needs one (it may not be the worker that
 * created the box), and a host key pinned before stays the only one accepted.
 */
export async function resumeBox(input: BoxInput & { pinnedHostKeys?: string[] }): Promise<SshTarget> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    const key = await ensureLeaseKey(input.box.leaseId);
    return keepingAlive(async (progress) => {
      if (adapter.authorize) await adapter.authorize(input.box, key.publicKey, progress);
      const target = await adapter.resume(input.box, progress);
      const hostKeys = target.hostKeys.length ? target.hostKeys : (input.pinnedHostKeys ?? []);
      return pinHostKey({ ...target, hostKeys });
    });
  });
}

export async function releaseBox(input: ReleaseBoxInput): Promise<ReleaseBoxResult> {
  return translated(async () => {
    const adapter = getProvider(input.provider, input.providerConfig);
    const action = input.action ?? adapter.defaultReleaseAction;
    await holdPoint('release');
    // Create may have died before returning an identity: find the box by this lease's marker.
    const boxes = input.box ? [input.box] : await adapter.findByLease({ leaseId: input.leaseId, slug: input.slug });
    if (boxes.length > 1) {
      throw new ProviderError('ownership', `${boxes.length} boxes carry lease ${input.leaseId}'s marker; releasing none`, {
        provider: input.provider,
        operation: 'release',
        leaseId: input.leaseId,
      });
    }
    if (boxes.length === 0) {
      return { action, alreadyGone: true, count: 0, note: 'no box carries this lease marker' };
    }
    const box = boxes[0];
    if (box.leaseId !== input.leaseId) {
      throw new ProviderError('ownership', `box ${box.resourceId} belongs to lease ${box.leaseId}, not ${input.leaseId}`, {
        provider: input.provider,
        operation: 'release',
        leaseId: input.leaseId,
      });
    }
    const result = await keepingAlive((progress) => adapter.release(box, action, progress));
    if (result.action === 'delete') {
      // The box is gone, so its key is useless; a stopped or kept box still needs it.
      rmSync(leaseDir(input.leaseId), { recursive: true, force: true });
    }
    return { ...result, count: 1 };
  });
}
