/**
 * orphanSweepWorkflow: the scheduled cleanup (Schedule `durabox-cleanup`, or `durabox cleanup`).
 *
 *   per provider, side by side:  list owned boxes → look their leases up → decide → release
 *                                running leases whose box vanished → confirm → signal `release`
 *
 * A provider that fails is reported and the others go on. Every decision, with its reason, is in
 * the result and therefore in history. Deterministic code only: activities do all I/O.
 */
import { ActivityFailure, TimeoutFailure, getExternalWorkflowHandle, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { OwnedResource } from '../providers/adapter.js';
import { sweepListOptions, sweepReleaseOptions } from './activity-options.js';
import { failureMessage } from './describe.js';
import { leaseWorkflowId, releaseSignal } from './messages.js';
import {
  DEFAULT_GRACE_MS,
  countOutcomes,
  planFor,
  vanishedCandidates,
  type LeaseFacts,
  type ProviderSweep,
  type SweepDecision,
  type SweepInput,
  type SweepProvider,
  type SweepResult,
} from './sweep-decide.js';

type Activities = ReturnType<typeof createActivities>;

const shared = proxyActivities<Activities>(sweepListOptions);
const sharedRelease = proxyActivities<Activities>(sweepReleaseOptions);
/** The lease's own worker holds its key (and, for the local provider, the box itself). */
const onQueue = (queue: string | undefined, input: SweepInput) =>
  queue
    ? proxyActivities<Activities>({
        ...sweepReleaseOptions,
        taskQueue: queue,
        ...(input.workerPickupMs ? { scheduleToStartTimeout: input.workerPickupMs } : {}),
      })
    : sharedRelease;

export async function orphanSweepWorkflow(input: SweepInput): Promise<SweepResult> {
  const startedAt = Date.now();
  const settings: SweepInput = { ...input, graceMs: input.graceMs ?? DEFAULT_GRACE_MS, dryRun: !!input.dryRun };
  const reports = await Promise.all(
    settings.providers.map((p) =>
      sweepProvider(p, settings, startedAt).catch(
        (err): ProviderSweep => ({ provider: p.provider, listed: 0, error: failureMessage(err), decisions: [] }),
      ),
    ),
  );
  const result: SweepResult = {
    startedAt: new Date(startedAt).toISOString(),
    dryRun: !!settings.dryRun,
    graceMs: settings.graceMs!,
    providers: reports,
    counts: countOutcomes(reports),
  };
  setCurrentDetails(summaryText(result));
  return result;
}

async function sweepProvider(p: SweepProvider, input: SweepInput, now: number): Promise<ProviderSweep> {
  const ref = { provider: p.provider, providerConfig: p.providerConfig };
  const listing = await shared.listOwnedBoxes.executeWithOptions({ summary: `list ${p.provider} boxes carrying durabox's marker` }, [ref]);
  if (!listing.discover) {
    return { provider: p.provider, listed: 0, error: 'skipped: this provider cannot discover resources by marker', decisions: [] };
  }
  const resources = listing.resources;
  const facts = await shared.leaseStatesFor.executeWithOptions(
    { summary: `look up the leases of ${resources.length} ${p.provider} box(es) and running ${p.provider} leases` },
    [{ leaseIds: [...new Set(resources.map((r) => r.leaseId))], runningOf: p.provider }],
  );
  const byLease = new Map(facts.map((f) => [f.leaseId, f]));
  const decisions: SweepDecision[] = [];
  for (const resource of resources) {
    const lease = byLease.get(resource.leaseId) ?? { leaseId: resource.leaseId, workflowStatus: 'NOT_FOUND' };
    decisions.push(await decideAndApply(p, resource, lease, input, now));
  }
  for (const lease of vanishedCandidates(resources, facts)) {
    decisions.push(await checkVanished(p, lease, input));
  }
  return { provider: p.provider, listed: resources.length, decisions };
}

async function decideAndApply(p: SweepProvider, resource: OwnedResource, lease: LeaseFacts, input: SweepInput, now: number): Promise<SweepDecision> {
  const plan = planFor(resource, lease, now, input);
  const base = { provider: p.provider, leaseId: resource.leaseId, resourceId: resource.resourceId, workflowStatus: lease.workflowStatus };
  if (plan.kind === 'keep') return { ...base, outcome: 'kept', reason: plan.reason };
  if (plan.kind === 'skip') return { ...base, outcome: 'skipped', reason: plan.reason };
  if (input.dryRun) return { ...base, outcome: 'would-release', action: plan.action, reason: plan.reason };
  // A recorded box identity is revalidated by the adapter; without one, releaseBox finds the box by
  // this lease's marker and refuses if more than one carries it.
  const box = lease.box && lease.box.resourceId === resource.resourceId ? lease.box : undefined;
  const release = (queue: string | undefined, why = '') =>
    onQueue(queue, input).releaseBox.executeWithOptions(
      { summary: `release ${resource.resourceId} (${plan.action ?? 'provider default'}): ${plan.reason}${why}` },
      [{ ...p, leaseId: resource.leaseId, slug: lease.slug ?? '', box, action: plan.action }],
    );
  try {
    // The lease's own worker first; when it is gone (nobody picks the task up), any worker: the
    // adapter revalidates ownership and scope wherever it runs.
    const r = await release(lease.workerQueue).catch((err) => {
      if (!lease.workerQueue || !notPickedUp(err)) throw err;
      return release(undefined, ` (its worker ${lease.workerQueue} is gone)`);
    });
    const note = r.alreadyGone ? ' (it was already gone)' : r.note ? ` (${r.note})` : '';
    return { ...base, outcome: 'released', action: r.action, reason: `${plan.reason}${note}` };
  } catch (err) {
    return { ...base, outcome: 'failed', action: plan.action, reason: `${plan.reason}; release failed: ${failureMessage(err)}` };
  }
}

/** The provider no longer lists a running lease's box: ask the lease's own worker before acting. */
async function checkVanished(p: SweepProvider, lease: LeaseFacts, input: SweepInput): Promise<SweepDecision> {
  const base = { provider: p.provider, leaseId: lease.leaseId, resourceId: lease.box?.resourceId, workflowStatus: lease.workflowStatus };
  let found;
  try {
    found = await onQueue(lease.workerQueue, input).findLeaseBoxes.executeWithOptions(
      { summary: `confirm that lease ${lease.leaseId}'s box ${lease.box?.resourceId} is gone` },
      [{ ...p, leaseId: lease.leaseId, slug: lease.slug ?? '' }],
    );
  } catch (err) {
    return { ...base, outcome: 'skipped', reason: `box not listed, but its worker could not confirm: ${failureMessage(err)}` };
  }
  if (found.length > 0) return { ...base, outcome: 'kept', reason: 'lease running; its worker still finds the box' };
  const reason = 'lease running but its box has vanished';
  if (input.dryRun) return { ...base, outcome: 'would-request-release', reason };
  try {
    await getExternalWorkflowHandle(leaseWorkflowId(lease.leaseId)).signal(releaseSignal, { reason: `cleanup: ${reason}` });
  } catch (err) {
    return { ...base, outcome: 'failed', reason: `${reason}; signalling release failed: ${failureMessage(err)}` };
  }
  return { ...base, outcome: 'release-requested', reason: `${reason}; signalled release` };
}

function notPickedUp(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

function summaryText(r: SweepResult): string {
  const c = r.counts;
  const head = `${r.dryRun ? 'dry run: ' : ''}${c.released} released, ${c['would-release']} would release, ${c.kept} kept, ${c.skipped} skipped, ${c.failed} failed, ${c['release-requested'] + c['would-request-release']} vanished`;
  const lines = r.providers.map((p) => `- ${p.provider}: ${p.error ?? `${p.listed} listed`}`);
  return [head, ...lines].join('\n');
}
