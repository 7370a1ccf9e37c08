/** `durabox stop LEASE [--delete|--stop|--keep]`: release a lease now and wait until it is done. */
import { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { releaseSignal } from '../../workflows/messages.js';
import type { ReleaseAction } from '../../providers/adapter.js';
import { ConfigError, NoWorkerAnswerError, STATUS_QUERY_TIMEOUT_MS } from '../errors.js';
import { whyUnanswered } from '../lease-unanswered.js';
import { leaseStatus, resolveLease } from '../lease-client.js';
import { makeOutput } from '../output.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTemporal } from '../temporal/connect.js';

export function stopCommand(): Command {
  return new Command('stop')
    .description("release a lease now (with its own release action unless one is given)")
    .argument('<lease>', 'lease id or slug')
    .option('--delete', 'delete the box')
    .option('--stop', 'stop the box (resumable where the provider supports it)')
    .option('--keep', 'end the lease but leave the box as it is')
    .option('--no-wait', 'do not wait for the release to finish')
    .action(async (ref: string, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { delete?: boolean; stop?: boolean; keep?: boolean; wait: boolean; json?: boolean; quiet?: boolean };
      const chosen = (['delete', 'stop', 'keep'] as const).filter((a) => g[a]);
      if (chosen.length > 1) throw new ConfigError(`choose one of --delete, --stop, --keep (got ${chosen.map((c) => `--${c}`).join(' ')})`);
      const action: ReleaseAction | undefined = chosen[0];
      const out = makeOutput(g);
      const { client } = await connectTemporal(configuredTaskQueue(), (l) => out.step(l));
      const handle = await resolveLease(client, ref);
      const desc = await handle.describe();
      if (desc.status.name === 'RUNNING') {
        await handle.signal(releaseSignal, { action, reason: 'durabox stop' });
        out.step(`release requested${action ? ` (${action})` : ''}`);
      }
      if (!g.wait) return out.result(`release requested for ${ref}`, { workflowId: handle.workflowId, requested: true });
      const done = handle.result().then(
        () => true,
        () => true,
      );
      // The release is durable and waits for a worker; with none polling, say so instead of a silence.
      // A release may take minutes (a cloud VM's delete): only a queue nobody polls is worth a word.
      // The timer is unref'd: a release that ends sooner must not keep the command alive after it.
      const tick = () => sleep(STATUS_QUERY_TIMEOUT_MS, false, { ref: false });
      for (let told = false; !(await Promise.race([done, tick()])); ) {
        if (told) continue;
        const why = await whyUnanswered(handle, desc.taskQueue, 'no-answer', STATUS_QUERY_TIMEOUT_MS);
        if (why.kind !== 'none-polling') continue;
        told = true;
        out.step(`waiting for a worker to release it (--no-wait returns now): ${new NoWorkerAnswerError(handle.workflowId, desc.taskQueue, why).summary}`);
      }
      const s = await leaseStatus(handle);
      out.result(
        s.released ? `${s.slug} released: ${s.released.action}${s.released.note ? ` (${s.released.note})` : ''}` : `${s.slug}: ${s.phase}`,
        s,
      );
    });
}
