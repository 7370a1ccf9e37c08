/** Shared fixtures for provider tests: a private state dir per test file, lease ids, a recording ProgressContext. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProgressContext, ProviderAdapter, SshTarget } from '../../providers/adapter.js';
import { pinHostKey } from '../../providers/common/host-key.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';

/** Point DURABOX_STATE_DIR at a fresh temp dir (call at module top level, before any provider use). */
export function useTempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dbx-st-'));
  process.env.DURABOX_STATE_DIR = dir;
  return dir;
}

export const newLeaseId = () => `dbx_${randomBytes(6).toString('hex')}`;

export interface RecordingContext extends ProgressContext {
  beats: unknown[];
  logs: string[];
  controller: AbortController;
}

export function testCtx(): RecordingContext {
  const controller = new AbortController();
  const beats: unknown[] = [];
  const logs: string[] = [];
  return {
    controller,
    beats,
    logs,
    signal: controller.signal,
    heartbeat: (d) => beats.push(d),
    log: (m) => logs.push(m),
  };
}

/** Tear down every box an adapter still owns (sshd processes outlive the test process otherwise). */
export async function releaseAll(adapter: ProviderAdapter, stateDir?: string): Promise<void> {
  for (const r of await adapter.listOwned()) {
    const [box] = await adapter.findByLease({ leaseId: r.leaseId, slug: 'x' }).catch(() => []);
    if (box) await adapter.release(box, 'delete', testCtx()).catch(() => undefined);
  }
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}

/** A ready box of `adapter` for a new lease (its key made, its host key pinned when `pin`). */
export async function readyBox(adapter: ProviderAdapter, slug: string, opts: { leaseId?: string; pin?: boolean } = {}): Promise<{ leaseId: string; target: SshTarget }> {
  const leaseId = opts.leaseId ?? newLeaseId();
  const key = await ensureLeaseKey(leaseId);
  const box = await adapter.create({ leaseId, slug, publicKey: key.publicKey, keyPath: key.keyPath }, testCtx());
  const target = await adapter.waitReady(box, testCtx());
  return { leaseId, target: opts.pin ? await pinHostKey(target) : target };
}

