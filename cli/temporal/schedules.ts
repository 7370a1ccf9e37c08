/**
 * The cleanup Schedule: one per namespace, fixed id `durabox-cleanup`, starting orphanSweepWorkflow
 * every 15 minutes (overlap SKIP: a slow sweep is never doubled). `durabox cleanup --schedule`
 * creates or updates it; `durabox server start` and `durabox worker` only make sure it exists.
 */
import { Client, Connection, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { providerNames } from '../../providers/registry.js';
import type { orphanSweepWorkflow } from '../../workflows/sweep.js';
import { CLEANUP_SCHEDULE_ID, DEFAULT_GRACE_MS, SWEEP_WORKFLOW_TYPE, type SweepInput, type SweepProvider } from '../../workflows/sweep-decide.js';
import { formatDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { connectionOptions, type ClusterSettings } from './connect.js';

export const DEFAULT_CLEANUP_EVERY_MS = 15 * 60_000;

/**
 * The providers to sweep, each with its settings from the user config and environment (never a
 * repository's). Without `only`, a provider whose settings do not parse (e.g. `ssh` with no host)
 * is left out and named in `omitted`; with `only`, that is an error.
 */
export function sweepProviders(only?: string, env: NodeJS.ProcessEnv = process.env): { providers: SweepProvider[]; omitted: string[] } {
  const providers: SweepProvider[] = [];
  const omitted: string[] = [];
  for (const name of only ? [only] : providerNames()) {
    try {
      const loaded = loadConfig({ flags: { provider: name }, env });
      providers.push({ provider: name, providerConfig: loaded.providerConfig });
    } catch (err) {
      if (only) throw err;
      omitted.push(`${name} (${(err as Error).message})`);
    }
  }
  return { providers, omitted };
}

export interface CleanupScheduleOptions {
  taskQueue: string;
  everyMs?: number;
  input: SweepInput;
  /** Replace the spec and action of an existing schedule (else leave it as it is). */
  update: boolean;
}

export function scheduleShape(opts: CleanupScheduleOptions) {
  const everyMs = opts.everyMs ?? DEFAULT_CLEANUP_EVERY_MS;
  const names = opts.input.providers.map((p) => p.provider).join(', ') || 'no providers';
  return {
    spec: { intervals: [{ every: everyMs }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: SWEEP_WORKFLOW_TYPE,
      workflowId: CLEANUP_SCHEDULE_ID,
      taskQueue: opts.taskQueue,
      args: [opts.input] as [SweepInput],
      // A sweep nobody picks up must not block the schedule forever (overlap SKIP).
      workflowRunTimeout: '30m',
      staticSummary: `durabox cleanup of ${names} every ${formatDuration(everyMs)} (grace ${formatDuration(opts.input.graceMs ?? DEFAULT_GRACE_MS)}${opts.input.releaseUnrecorded ? ', releasing unrecorded boxes' : ''})`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10m' },
  };
}

/** Create the schedule, or (with `update`) bring an existing one to these settings. Idempotent. */
export async function ensureCleanupSchedule(client: Client, opts: CleanupScheduleOptions): Promise<'created' | 'updated' | 'exists'> {
  const shape = scheduleShape(opts);
  try {
    await client.schedule.create<typeof orphanSweepWorkflow>({ scheduleId: CLEANUP_SCHEDULE_ID, ...shape });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  if (!opts.update) return 'exists';
  await client.schedule.getHandle(CLEANUP_SCHEDULE_ID).update((prev) => ({ ...prev, ...shape, state: prev.state }));
  return 'updated';
}

/**
 * Best effort, for `durabox server start` and `durabox worker`: make sure the schedule exists with
 * the default settings; on failure say so in one stderr line and carry on.
 * `DURABOX_CLEANUP_SCHEDULE=off` disables it.
 */
export async function ensureCleanupScheduleQuietly(cluster: ClusterSettings, taskQueue: string, warn: (line: string) => void): Promise<void> {
  if (['off', '0', 'false', 'no'].includes((process.env.DURABOX_CLEANUP_SCHEDULE ?? '').toLowerCase())) return;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect(connectionOptions(cluster));
    const client = new Client({ connection, namespace: cluster.namespace });
    const { providers } = sweepProviders();
    await ensureCleanupSchedule(client, { taskQueue, input: { providers }, update: false });
  } catch (err) {
    warn(`could not ensure the cleanup schedule ${CLEANUP_SCHEDULE_ID}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
