/**
 * `durabox history [LEASE] [--json]`: the lease's story from its workflow history (also for
 * finished leases): each step with its summary, times, outcome and short facts, the signals and
 * updates it received, and how it ended.
 */
import { Command } from 'commander';
import { LEASE_WORKFLOW_TYPE } from '../../workflows/messages.js';
import { LeaseNotFoundError } from '../errors.js';
import { buildStory, formatStory } from '../history-story.js';
import { resolveLease } from '../lease-client.js';
import { makeOutput } from '../output.js';
import { connectTemporal } from '../temporal/connect.js';

export function historyCommand(): Command {
  return new Command('history')
    .description("print a lease's story from its workflow history (default: the most recent lease)")
    .argument('[lease]', 'lease id or slug')
    .action(async (ref: string | undefined, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { json?: boolean; quiet?: boolean };
      const out = makeOutput(g);
      const { client } = await connectTemporal(process.env.DURABOX_TASK_QUEUE ?? 'durabox', (l) => out.step(l));
      if (!ref) {
        for await (const wf of client.workflow.list({ query: `WorkflowType = '${LEASE_WORKFLOW_TYPE}'`, pageSize: 1 })) {
          ref = wf.workflowId;
          break;
        }
        if (!ref) throw new LeaseNotFoundError('(most recent)');
      }
      const handle = await resolveLease(client, ref);
      const story = await buildStory(client, handle.workflowId);
      out.result(formatStory(story), story);
    });
}
