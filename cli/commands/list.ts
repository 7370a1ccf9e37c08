/** `durabox list [--json] [--all]`: leases from Temporal's visibility, newest first. */
import { Command } from 'commander';
import { LEASE_WORKFLOW_TYPE } from '../../workflows/messages.js';
import { makeOutput } from '../output.js';
import { accruedCost, type AccruedCost, type CostFacts } from '../cost.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTemporal } from '../temporal/connect.js';
import { leaseFacts } from '../lease-facts.js';

export function listCommand(): Command {
  return new Command('list')
    .description('list leases (running ones, or --all)')
    .option('--all', 'include finished leases')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (_o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { all?: boolean; limit: string; json?: boolean; quiet?: boolean };
      const out = makeOutput(g);
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const limit = Math.max(1, Number.parseInt(g.limit, 10) || 50);
      const query = `WorkflowType = '${LEASE_WORKFLOW_TYPE}'${g.all ? '' : " AND ExecutionStatus = 'Running'"}`;
      const rows: Array<Record<string, unknown>> = [];
      for await (const wf of client.workflow.list({ query })) {
        const { leaseId, slug, provider, state, expiresAt, repo } = leaseFacts(wf.typedSearchAttributes);
        rows.push({
          leaseId,
          slug,
          provider,
          state,
          workflowStatus: wf.status.name,
          startedAt: wf.startTime.toISOString(),
          expiresAt,
          repo,
          cost: accruedCost((wf.memo ?? {}) as CostFacts),
        });
        if (rows.length >= limit) break;
      }
      const human = rows.length
        ? rows
            .map((r) => {
              const cost = r.cost as AccruedCost | undefined;
              return `${r.slug}\t${r.leaseId}\t${r.provider}\t${r.state}\t${String(r.workflowStatus).toLowerCase()}\t${r.startedAt}${cost ? `\t$${cost.cost.toFixed(2)}` : ''}`;
            })
            .join('\n')
        : 'no leases';
      out.result(human, rows);
    });
}
