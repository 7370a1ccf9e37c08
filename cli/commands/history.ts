/**
 * `durabox history [LEASE] [--json]`: the lease's story from its workflow history (also for
 * finished leases): each step with its summary, times, outcome and short facts, the signals and
 * updates it received, and how it ended.
 */
import { Command } from 'commander';
import { configuredTaskQueue } from '../config/load.js';
import { buildStory, formatStory } from '../history-story.js';
import { resolveLeaseOrLatest } from '../lease-client.js';
import { makeOutput } from '../output.js';
import { connectTemporal } from '../temporal/connect.js';

export function historyCommand(): Command {
  return new Command('history')
    .description("print a lease's story from its workflow history (default: the most recent lease)")
    .argument('[lease]', 'lease id or slug')
    .action(async (ref: string | undefined, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { json?: boolean; quiet?: boolean };
      const out = makeOutput(g);
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const handle = await resolveLeaseOrLatest(client, ref);
      const story = await buildStory(client, handle.workflowId);
      out.result(formatStory(story), story);
    });
}
