/** `durabox status [LEASE] [--wait] [--json]`: a lease's phase, box, deadlines and runs. */
import { Command } from 'commander';
import type { LeaseStatus } from '../../workflows/messages.js';
import { describeRun } from '../../workflows/describe.js';
import { httpStatusReader } from '../lease-status-http.js';
import { makeOutput } from '../output.js';
import { accruedCost, formatCost } from '../cost.js';
import { configuredTaskQueue } from '../config/load.js';
import { connectTo, temporalTarget } from '../temporal/connect.js';
import { NoWorkerAnswerError, STATUS_QUERY_TIMEOUT_MS } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import type { LeaseHandle } from '../lease-client.js';

export function statusCommand(): Command {
  return new Command('status')
    .description("show a lease's status (default: the most recent lease)")
    .argument('[lease]', 'lease id or slug')
    .option('--wait', 'wait until the lease is ready (or has ended)')
    .action(async (ref: string | undefined, _o: unknown, command: Command) => {
      const g = command.optsWithGlobals() as { wait?: boolean; json?: boolean; quiet?: boolean; taskQueue?: string };
      const out = makeOutput(g);
      const target = await temporalTarget(configuredTaskQueue(), (l) => out.step(l));
      // A running lease is read over the HTTP API when the server has one; from the first answer
      // it will not give (the lease has ended, an error), over the gRPC client, loaded only then.
      const http = await httpStatusReader(target, ref);
      let overGrpc: (() => Promise<LeaseStatus & { workflowStatus: string }>) | undefined;
      let grpc: Promise<{ handle: LeaseHandle; lc: typeof import('../lease-client.js') }> | undefined;
      // One gRPC connection and one lookup for the whole command, loaded only when needed.
      const grpcHandle = () =>
        (grpc ??= (async () => {
          const [{ client }, lc] = await Promise.all([connectTo(target), import('../lease-client.js')]);
          // The lease HTTP found, if it found one: with no ref (or a slug reused since), looking
          // again could name another lease in the middle of a --wait.
          const handle = http ? await lc.resolveLease(client, http.workflowId) : await lc.resolveLeaseOrLatest(client, ref);
          return { handle, lc };
        })());
      const read = async () => {
        if (!overGrpc) {
          const overHttp = await http?.read(STATUS_QUERY_TIMEOUT_MS);
          if (overHttp === 'none-polling') throw new NoWorkerAnswerError(http!.workflowId, undefined, { kind: overHttp });
          if (overHttp === 'no-answer') throw new NoWorkerAnswerError(http!.workflowId, undefined, { kind: overHttp, waitedMs: STATUS_QUERY_TIMEOUT_MS });
          if (overHttp) return overHttp;
          const { handle: h, lc } = await grpcHandle();
          overGrpc = () => lc.leaseStatus(h, STATUS_QUERY_TIMEOUT_MS);
        }
        return overGrpc();
      };
      try {
        let s = await read();
        while (g.wait && (s.phase === 'creating' || s.phase === 'starting')) {
          await new Promise((r) => setTimeout(r, 500));
          s = await read();
        }
        out.result(formatStatus(s), { ...s, cost: leaseCost(s) });
      } catch (err) {
        if (!(err instanceof NoWorkerAnswerError)) throw err;
        // Say what the server itself records about the lease, and who polls its queue.
        const { unansweredStatus, formatUnanswered, noAnswerFromPollers } = await import('../lease-unanswered.js');
        const u = await unansweredStatus((await grpcHandle()).handle);
        // Over HTTP the queue's pollers were not asked: the ones just read say why.
        const why = err.why.kind === 'no-answer' ? noAnswerFromPollers(u.pollers, err.why.waitedMs) : err.why;
        out.result(formatUnanswered(u), u);
        out.warn(new NoWorkerAnswerError(err.workflowId, u.taskQueue, why).summary);
        process.exitCode = ExitCode.worker;
      }
    });
}

export function formatStatus(s: LeaseStatus & { workflowStatus?: string }): string {
  const cost = leaseCost(s);
  const lines = [
    `${s.slug}  ${s.leaseId}  ${s.provider}  ${s.phase}${s.workflowStatus && s.workflowStatus !== 'RUNNING' && s.workflowStatus !== 'COMPLETED' ? ` (${s.workflowStatus.toLowerCase()})` : ''}`,
    s.box ? `  box:      ${s.box.resourceId}` : '',
    s.target ? `  ssh:      ${s.target.user}@${s.target.host}:${s.target.port}` : '',
    `  release:  ${s.releaseAction}${s.released ? ` (done: ${s.released.action} after ${s.released.reason} at ${s.released.at})` : ''}`,
    s.idleDeadline ? `  idle at:  ${s.idleDeadline}` : '',
    `  expires:  ${s.ttlDeadline}`,
    cost ? `  cost:     ${formatCost(cost)}${s.budgetDeadline && !s.released ? `, spent at ${s.budgetDeadline}` : ''}` : '',
    s.error ? `  error:    ${s.error}` : '',
    ...s.runs.map((r) => `  ${r.runId}  ${describeRun(r.argv)}  ${r.status}${r.exitCode !== undefined ? ` exit ${r.exitCode}` : ''}${r.timings ? ` ${(r.timings.totalMs / 1000).toFixed(1)}s` : ''}`),
  ];
  return lines.filter(Boolean).join('\n');
}

function leaseCost(s: LeaseStatus) {
  return accruedCost({ costPerHour: s.box?.costPerHour, boxCreatedAt: s.boxCreatedAt, releasedAt: s.released?.at, maxCost: s.maxCost });
}
