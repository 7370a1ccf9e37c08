/** Recording fake activities and lease inputs for workflow tests (typed like the real ones). */
import { randomBytes } from 'node:crypto';
import type { createActivities } from '../../activities/index.js';
import type { ReleaseBoxInput } from '../../activities/types.js';
import type { SshTarget } from '../../providers/adapter.js';
import type { LeaseInput } from '../../workflows/messages.js';

export type Activities = ReturnType<typeof createActivities>;

export const target: SshTarget = {
  user: 'u',
  host: '127.0.0.1',
  port: 2222,
  keyPath: '/nonexistent/key',
  hostKeyAlias: 'durabox-test',
  hostKeys: ['ssh-ed25519 AAAAtest'],
  workRoot: '/work',
};

export interface Recorder {
  calls: string[];
  releases: ReleaseBoxInput[];
}

export function fakeActivities(rec: Recorder, queue: string, overrides: Partial<Activities> = {}): Activities {
  const base: Activities = {
    async claimWorkerQueue() {
      rec.calls.push('claim');
      return queue;
    },
    async createBox(input) {
      rec.calls.push('create');
      return { box: { provider: input.provider, leaseId: input.leaseId, resourceId: `box-${input.leaseId}`, scope: 'test', details: {} }, defaultReleaseAction: 'delete', adopted: false };
    },
    async waitBoxReady() {
      rec.calls.push('waitReady');
      return target;
    },
    async adoptBox() {
      rec.calls.push('adopt');
      return target;
    },
    async authorizeClient() {
      rec.calls.push('authorizeClient');
      return { authorized: true };
    },
    async resumeBox() {
      rec.calls.push('resume');
      return target;
    },
    async syncWorkdir() {
      rec.calls.push('sync');
      return { workdir: '/work/x', files: 3, bytes: 10, deleted: 0, skipped: false, ms: 5 };
    },
    async runCommand(input) {
      rec.calls.push(`run:${input.argv.join(' ')}`);
      return { exitCode: input.argv[0] === 'false' ? 1 : 0, status: input.argv[0] === 'false' ? 'failed' : 'succeeded', tail: 'ok', runMs: 7, stdoutBytes: 2, stderrBytes: 0, reattached: false };
    },
    async releaseBox(input) {
      rec.calls.push(`release:${input.action ?? 'default'}`);
      rec.releases.push(input);
      return { action: input.action ?? 'delete', alreadyGone: false, count: input.box ? 1 : 0 };
    },
  };
  return { ...base, ...overrides };
}

export function leaseInput(over: Partial<LeaseInput> = {}): LeaseInput {
  const leaseId = `dbx_${randomBytes(6).toString('hex')}`;
  return {
    leaseId,
    slug: `t-${leaseId.slice(4, 10)}`,
    provider: 'fake',
    providerConfig: {},
    releaseAfterRun: true,
    idleTimeoutMs: 60_000,
    ttlMs: 600_000,
    repoName: 'repo',
    owner: 'test',
    ...over,
  };
}

