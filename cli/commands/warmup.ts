/** `durabox warmup`: acquire a kept lease and wait until its box is ready; later runs use `--id`. */
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { CliError, ConfigError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { leaseStartOptions, leaseStatus, queryStatus, resolveLease, type LeaseHandle } from '../lease-client.js';
import { resumeStartOptions } from '../lease-resume.js';
import { newLeaseInput } from '../lease-input.js';
import { checkSlugFlag } from '../lease-ids.js';
import { makeOutput } from '../output.js';
import { repoContext } from '../repo-context.js';
import { connectTemporal } from '../temporal/connect.js';
import { LEASE_WORKFLOW_TYPE, type LeaseInput, type LeaseStatus } from '../../workflows/messages.js';
import { addLeaseConfigOptions, leaseConfigFlags, type LeaseConfigFlags } from './lease-flags.js';
import { watchProgress } from './run-support.js';
import { statusFeed } from '../lease-status-feed.js';

export function warmupCommand(): Command {
  const cmd = new Command('warmup')
    .description('acquire a box and keep it ready for `durabox run --id`')
    .option('--slug <slug>', 'human name for the lease')
    .option('--id <lease>', 'start the stopped box of an ended lease again (kept), or wait for a running one');
  addLeaseConfigOptions(cmd);
  return cmd.action(async (_opts: unknown, command: Command) => {
    const g = command.optsWithGlobals() as LeaseConfigFlags & { slug?: string; id?: string; json?: boolean; quiet?: boolean };
    const out = makeOutput(g);
    if (g.id && g.slug) throw new ConfigError('--slug names a new lease; --id resumes an existing one');
    checkSlugFlag(g.slug);
    const repo = repoContext();
    const loaded = loadConfig({ flags: leaseConfigFlags(g), extraEnv: g.env, repoRoot: repo.root });
    const { client } = await connectTemporal(loaded.config.taskQueue, (l) => out.step(l));
    let handle: LeaseHandle;
    let input: Pick<LeaseInput, 'leaseId' | 'slug' | 'provider'>;
    if (g.id) {
      const existing = await resolveLease(client, g.id);
      const resume = await resumeStartOptions(client, existing, loaded.config.taskQueue, { keep: true });
      input = resume ? resume.args[0] : await firstInputOf(existing);
      handle = resume ? await client.workflow.start(LEASE_WORKFLOW_TYPE, resume) : existing;
      out.step(resume ? `resuming lease ${input.slug} (${input.leaseId}): starting its stopped box again` : `lease ${input.slug} (${input.leaseId}) is running`);
    } else {
      const fresh = await newLeaseInput(client, loaded, repo, { slug: g.slug, releaseAfterRun: false });
      handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, leaseStartOptions(fresh, loaded.config.taskQueue));
      input = fresh;
      out.step(`lease ${input.slug} (${input.leaseId}) on ${input.provider}`);
    }
    const feed = statusFeed((signal) => queryStatus(handle, signal));
    const progress = watchProgress(feed, out);
    const nextStatus = () => new Promise<LeaseStatus | undefined>((resolve) => feed.watch((st) => (resolve(st), true)));
    try {
      for (;;) {
        const desc = await handle.describe();
        if (desc.status.name !== 'RUNNING') {
          const err = await handle.result().then(() => undefined, (e: unknown) => e as Error & { cause?: Error });
          throw new CliError(`lease ${input.leaseId} ended before it was ready${err ? `: ${err.cause?.message ?? err.message}` : ''}`, ExitCode.provider);
        }
        const s = await nextStatus();
        if (s && (s.phase === 'ready' || s.phase === 'running')) {
          out.result(`${input.slug} ${input.leaseId}\n`, { leaseId: input.leaseId, slug: input.slug, workflowId: handle.workflowId, phase: s.phase, target: s.target });
          out.step(`ready: durabox run --id ${input.slug} -- <command>`);
          return;
        }
        if (s && (s.phase === 'failed' || s.phase === 'releasing' || s.phase === 'released')) {
          throw new CliError(`lease ${input.leaseId} failed: ${s.error ?? s.phase}`, ExitCode.provider);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    } finally {
      progress.stop();
      await feed.stop();
    }
  });
}

/** A running lease's names, from its status. */
async function firstInputOf(handle: LeaseHandle): Promise<Pick<LeaseInput, 'leaseId' | 'slug' | 'provider'>> {
  const s = await leaseStatus(handle);
  return { leaseId: s.leaseId, slug: s.slug, provider: s.provider };
}
