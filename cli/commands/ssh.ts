/** `durabox ssh LEASE`: print a ready ssh command with the lease's key and pinned known_hosts. */
import { Command } from 'commander';
import { sshCommandLine } from '../../providers/common/ssh-options.js';
import { CliError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { leaseStatus, resolveLease } from '../lease-client.js';
import { makeOutput } from '../output.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTemporal } from '../temporal/connect.js';

export function sshCommand(): Command {
  return new Command('ssh')
    .description("print an ssh command for a lease's box (key and pinned host key included)")
    .argument('<lease>', 'lease id or slug')
    .action(async (ref: string, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { json?: boolean; quiet?: boolean };
      const out = makeOutput(g);
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const handle = await resolveLease(client, ref);
      const s = await leaseStatus(handle);
      if (!s.target || s.phase === 'released' || s.phase === 'failed') {
        // Only a lease that completed with its box stopped or kept can be resumed (warmup --id).
        const resumable =
          s.phase === 'released' && s.target && (s.released?.action === 'stop' || s.released?.action === 'keep') && (await handle.describe()).status.name === 'COMPLETED';
        throw new CliError(
          `lease ${ref} has no reachable box (${s.phase}${resumable ? `, box ${s.released!.action === 'stop' ? 'stopped' : 'kept'}: durabox warmup --id ${ref} starts it again` : ''})`,
          ExitCode.notFound,
        );
      }
      const line = sshCommandLine(s.target);
      out.result(line, { command: line, target: s.target });
    });
}
