/**
 * `durabox cleanup [--provider P] [--dry-run] [--schedule [--every 15m]] [--json]`: sweep orphaned
 * boxes now (runs orphanSweepWorkflow and prints every decision), or create/update the Schedule
 * that sweeps every 15 minutes.
 */
import { Command } from 'commander';
import { CLEANUP_SCHEDULE_ID, SWEEP_WORKFLOW_TYPE, type SweepInput, type SweepResult } from '../../workflows/sweep-decide.js';
import type { orphanSweepWorkflow } from '../../workflows/sweep.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { makeOutput } from '../output.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTemporal } from '../temporal/connect.js';
import { DEFAULT_CLEANUP_EVERY_MS, ensureCleanupSchedule, sweepProviders } from '../temporal/schedules.js';
import { ConfigError } from '../errors.js';

interface CleanupFlags {
  provider?: string;
  dryRun?: boolean;
  schedule?: boolean;
  every?: string;
  grace?: string;
  releaseUnrecorded?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function cleanupCommand(): Command {
  return new Command('cleanup')
    .description('release boxes whose lease has ended (orphans), now or on a schedule')
    .option('--provider <name>', 'sweep only this provider (default: every configured provider)')
    .option('--dry-run', 'decide and print, release nothing')
    .option('--grace <duration>', 'leave boxes younger than this alone (default 30m)')
    .option('--release-unrecorded', 'also release boxes whose marker names a lease this namespace has no record of (provider default action)')
    .option('--schedule', `create or update the Schedule ${CLEANUP_SCHEDULE_ID} instead of sweeping now`)
    .option('--every <duration>', 'with --schedule: how often (default 15m)')
    .action(async (_o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as CleanupFlags;
      const out = makeOutput(g);
      const graceMs = durationOption('--grace', g.grace, 0);
      const everyMs = durationOption('--every', g.every, 60_000);
      const { providers, omitted } = sweepProviders(g.provider);
      for (const o of omitted) out.step(`not sweeping ${o}`);
      const input: SweepInput = { providers, graceMs, dryRun: !!g.dryRun, releaseUnrecorded: !!g.releaseUnrecorded };
      const taskQueue = configuredTaskQueue();
      const { client } = await connectTemporal(taskQueue, (l) => out.step(l));

      if (g.schedule) {
        const every = everyMs ?? DEFAULT_CLEANUP_EVERY_MS;
        const how = await ensureCleanupSchedule(client, { taskQueue, everyMs: every, input, update: true });
        const names = providers.map((p) => p.provider).join(', ');
        out.result(`schedule ${CLEANUP_SCHEDULE_ID} ${how}: every ${formatDuration(every)}, providers ${names}${input.dryRun ? ' (dry run)' : ''}`, {
          scheduleId: CLEANUP_SCHEDULE_ID,
          status: how,
          everyMs: every,
          taskQueue,
          input,
        });
        return;
      }

      const workflowId = `${CLEANUP_SCHEDULE_ID}-now-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      out.step(`sweeping ${providers.map((p) => p.provider).join(', ')}${input.dryRun ? ' (dry run)' : ''}: workflow ${workflowId}`);
      const result = await client.workflow.execute<typeof orphanSweepWorkflow>(SWEEP_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [input],
        workflowRunTimeout: '30m',
        staticSummary: `durabox cleanup${input.dryRun ? ' (dry run)' : ''} of ${providers.map((p) => p.provider).join(', ')}, started from the CLI`,
      });
      out.result(formatSweep(result), { workflowId, ...result });
    });
}

/** A duration flag; `--grace 0` is allowed (sweep regardless of age), a schedule runs at most every minute. */
function durationOption(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms < min) throw new ConfigError(`${flag} ${JSON.stringify(value)}: not a duration of at least ${min} ms (use e.g. 0, 45s, 20m)`);
  return ms;
}

export function formatSweep(r: SweepResult): string {
  const lines: string[] = [];
  for (const p of r.providers) {
    lines.push(`${p.provider}: ${p.error ?? `${p.listed} box(es) carry durabox's marker`}`);
    for (const d of p.decisions) {
      const action = d.action ? ` (${d.action})` : '';
      lines.push(`  ${d.outcome}${action}  ${d.resourceId ?? '-'}  lease ${d.leaseId}  ${d.reason}`);
    }
  }
  const c = r.counts;
  lines.push(
    `${r.dryRun ? 'dry run: ' : ''}${c.released} released, ${c['would-release']} would be released, ${c.kept} kept, ${c.skipped} skipped, ${c.failed} failed` +
      (c['release-requested'] + c['would-request-release'] ? `, ${c['release-requested'] + c['would-request-release']} running lease(s) whose box vanished` : ''),
  );
  return lines.join('\n');
}
