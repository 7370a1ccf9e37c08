/**
 * Live smoke test against the real GitHub Codespaces API. IT CREATES A BILLABLE CODESPACE.
 * Skipped unless DURABOX_LIVE=1 and a test repository is named; never run by CI (skipped when CI is set).
 *
 *   gh auth login --scopes codespace            # or export GH_TOKEN=… (codespace scope)
 *   DURABOX_LIVE=1 DURABOX_CODESPACES_REPO=owner/test-repo \
 *     [DURABOX_CODESPACES_MACHINE=basicLinux32gb] [DURABOX_CODESPACES_REF=main] \
 *     [DURABOX_CODESPACES_DEVCONTAINER=.devcontainer/devcontainer.json] [DURABOX_CODESPACES_GEO=EuropeWest] \
 *     npx vitest run test/providers/codespaces/live-smoke.test.ts
 *
 * The token is the adapter's own: GH_TOKEN, then GITHUB_TOKEN, else `gh auth token`; it is never
 * printed. `gh` must be on PATH (SSH goes through `gh codespace ssh --stdio`).
 *
 * doctor → cheapest machine the repository offers (fewest cores, then least memory; unless
 * DURABOX_CODESPACES_MACHINE names one) → create → waitReady → host key pinned for this lease →
 * `uname -a` over SSH → delete, ALWAYS (finally), also when a step failed; then it checks that
 * nothing carrying this lease is left. As a backstop the codespace is created with the shortest
 * idle timeout (5 min) and a 60-minute retention, so even a killed run costs little.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { newLeaseId, testCtx, useTempStateDir } from '../helpers.js';
import type { BoxIdentity, ProgressContext, ProviderAdapter } from '../../../providers/adapter.js';
import type { CodespacesAdapter } from '../../../providers/codespaces/adapter.js';
import { MachinesSchema } from '../../../providers/codespaces/schemas.js';
import { readKnownHostKeys } from '../../../providers/common/host-key.js';
import { ensureLeaseKey } from '../../../providers/common/keys.js';
import { sshExec } from '../../../providers/common/remote.js';
import { hostKeyAliasFor, knownHostsPath } from '../../../providers/common/ssh-options.js';
import { getProvider } from '../../../providers/adapters.js';

const env = (n: string) => process.env[`DURABOX_CODESPACES_${n}`]?.trim() || undefined;
const repo = env('REPO');
const skipReason =
  process.env.DURABOX_LIVE !== '1'
    ? 'set DURABOX_LIVE=1 and DURABOX_CODESPACES_REPO=owner/name to run'
    : !repo
      ? 'DURABOX_LIVE=1 but no test repository: set DURABOX_CODESPACES_REPO=owner/name'
      : process.env.CI
        ? 'refusing to create a codespace with CI set'
        : undefined;

const SLUG = 'smoke';

/** A ProgressContext that shows the adapter's (redacted) progress lines. */
function liveCtx(): ProgressContext {
  const ctx = testCtx();
  return { heartbeat: ctx.heartbeat, signal: ctx.signal, log: (m) => console.log(`  ${m}`) };
}

describe.skipIf(skipReason !== undefined)(`codespaces live smoke${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('doctor → create (cheapest machine) → ready → host key pinned → uname -a → delete', async () => {
    const stateDir = useTempStateDir();
    const settings = {
      repo,
      ...(env('REF') ? { ref: env('REF') } : {}),
      ...(env('DEVCONTAINER') ? { devcontainerPath: env('DEVCONTAINER') } : {}),
      ...(env('GEO') ? { geo: env('GEO') } : {}),
      idleTimeout: 5, // GitHub's minimum: an orphan stops itself soon
      retentionPeriod: 60, // and a stopped one is deleted by GitHub within the hour
      releaseAction: 'delete',
    };

    const probe = getProvider('codespaces', settings);
    const checks = await probe.doctor();
    for (const c of checks) console.log(`doctor ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    expect(checks.filter((c) => !c.ok)).toEqual([]);

    let machine = env('MACHINE');
    if (!machine) {
      const { machines } = await (probe as CodespacesAdapter).api.get({ path: `/repos/${repo}/codespaces/machines`, schema: MachinesSchema, operation: 'smoke' });
      const cheapest = [...machines].sort(
        (a, b) => (a.cpus ?? Infinity) - (b.cpus ?? Infinity) || (a.memory_in_bytes ?? Infinity) - (b.memory_in_bytes ?? Infinity),
      )[0];
      expect(cheapest, `GitHub offers no codespace machines for ${repo}`).toBeDefined();
      machine = cheapest!.name;
    }
    console.log(`machine ${machine}`);
    const adapter: ProviderAdapter = getProvider('codespaces', { ...settings, machine });

    const leaseId = newLeaseId();
    const key = await ensureLeaseKey(leaseId);
    let box: BoxIdentity | undefined;
    const leftovers: string[] = [];
    try {
      box = await adapter.create({ leaseId, slug: SLUG, publicKey: key.publicKey, keyPath: key.keyPath }, liveCtx());
      console.log(`created codespace ${box.resourceId} (lease ${leaseId}) in ${repo}`);
      const target = await adapter.waitReady(box, liveCtx());

      // The host key was pinned for this lease (trust on first use, once), not waved through.
      expect(target.hostKeyAlias).toBe(hostKeyAliasFor(leaseId));
      expect(target.hostKeys.length).toBeGreaterThan(0);
      expect(readKnownHostKeys(knownHostsPath(target), target.hostKeyAlias).sort()).toEqual([...target.hostKeys].sort());
      expect(target.proxyCommand).toEqual(expect.arrayContaining(['--stdio', box.resourceId]));
      console.log(`ready as ${target.user}@${target.host}, host key ${target.hostKeys[0]!.slice(0, 40)}…`);

      // Runs with StrictHostKeyChecking=yes against the pinned key.
      const uname = await sshExec(target, 'uname -a', { timeoutMs: 60_000 });
      console.log(`uname -a: ${uname.stdout.trim()}`);
      expect(uname.code).toBe(0);
      expect(uname.stdout).toMatch(/^Linux /);
    } finally {
      // ALWAYS: delete what this run made, even when create was ambiguous and `box` is unset.
      let boxes: BoxIdentity[] = box ? [box] : [];
      if (!box) {
        try {
          boxes = await adapter.findByLease({ leaseId, slug: SLUG });
        } catch (e) {
          leftovers.push(`could not look for codespaces of lease ${leaseId}: ${(e as Error).message}`);
        }
      }
      for (const b of boxes) {
        try {
          const r = await adapter.release(b, 'delete', liveCtx());
          console.log(`release ${b.resourceId}: ${r.action}${r.alreadyGone ? ' (already gone)' : ''}${r.note ? ` (${r.note})` : ''}`);
          if (r.action !== 'delete' && !r.alreadyGone) leftovers.push(`${b.resourceId} was not deleted: ${r.note ?? r.action}`);
        } catch (e) {
          leftovers.push(`${b.resourceId}: delete failed: ${(e as Error).message}`);
        }
      }
      try {
        for (const b of await adapter.findByLease({ leaseId, slug: SLUG })) leftovers.push(`${b.resourceId} still exists`);
      } catch (e) {
        leftovers.push(`could not confirm that lease ${leaseId} left nothing: ${(e as Error).message}`);
      }
      for (const l of leftovers) console.error(`CLEANUP FAILED: ${l}; check \`gh codespace list\` and \`gh codespace delete -c <name>\` NOW`);
      if (leftovers.length === 0) rmSync(stateDir, { recursive: true, force: true });
      else console.error(`lease records kept in ${stateDir}`);
    }
    expect(leftovers).toEqual([]);
  }, 40 * 60_000);
});
