/**
 * `durabox doctor [--provider P]`: read-only preflight. Local tools, Temporal (reachable, or the
 * embedded server's state, never started from here), and the provider's own checks.
 */
import { execFileSync } from 'node:child_process';
import { Command } from 'commander';
import type { DoctorCheck } from '../../providers/adapter.js';
import { getProvider } from '../../providers/adapters.js';
import { loadConfig } from '../config/load.js';
import { ExitCode } from '../exit-codes.js';
import { makeOutput } from '../output.js';
import { repoContext } from '../repo-context.js';
import { clusterFromEnv } from '../temporal/connect.js';
import { addLeaseConfigOptions, leaseConfigFlags, type LeaseConfigFlags } from './lease-flags.js';

function tool(name: string, args: string[]): DoctorCheck {
  try {
    const v = execFileSync(name, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { name, ok: true, detail: v.split('\n')[0].trim() };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return { name, ok: false, detail: 'not found on PATH' };
    return { name, ok: true, detail: (e.stderr ?? '').split('\n')[0].trim() };
  }
}

async function temporalCheck(): Promise<DoctorCheck> {
  const cluster = clusterFromEnv();
  if (cluster) {
    const { Connection } = await import('@temporalio/client');
    try {
      const c = await Connection.connect({ address: cluster.address, tls: cluster.tls, apiKey: cluster.apiKey, connectTimeout: '5s' });
      await c.close();
      return { name: 'temporal', ok: true, detail: `reachable at ${cluster.address} (namespace ${cluster.namespace})` };
    } catch (err) {
      return { name: 'temporal', ok: false, detail: `${cluster.address}: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  const { devServerStatus } = await import('../temporal/dev-server.js');
  const { findTemporalCli } = await import('../temporal/temporal-binary.js');
  const s = await devServerStatus();
  const bin = await findTemporalCli({ install: false }).then((p) => p, (e: Error) => `missing: ${e.message}`);
  return {
    name: 'temporal',
    ok: !bin.startsWith('missing'),
    detail: `embedded: ${s.answering ? `running at ${s.address} (Web UI ${s.uiUrl})` : 'not running (starts on first use)'}; CLI ${bin}`,
  };
}

export function doctorCommand(): Command {
  const cmd = new Command('doctor').description('check tools, Temporal and the provider; changes nothing');
  addLeaseConfigOptions(cmd);
  return cmd.action(async (_o: unknown, command: Command) => {
    const g = command.optsWithGlobals() as LeaseConfigFlags & { json?: boolean; quiet?: boolean };
    const out = makeOutput(g);
    const loaded = loadConfig({ flags: leaseConfigFlags(g), repoRoot: repoContext().root });
    const checks: DoctorCheck[] = [
      { name: 'node', ok: Number(process.versions.node.split('.')[0]) >= 20, detail: process.version },
      tool('ssh', ['-V']),
      tool('rsync', ['--version']),
      tool('git', ['--version']),
      await temporalCheck(),
    ];
    const adapter = getProvider(loaded.config.provider, loaded.providerConfig);
    for (const c of await adapter.doctor()) checks.push({ ...c, name: `${loaded.config.provider}: ${c.name}` });
    checks.push({ name: 'release action', ok: true, detail: `${loaded.config.release ?? adapter.defaultReleaseAction}${loaded.config.release ? '' : ' (provider default)'}` });
    out.result(checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n'), { ok: checks.every((c) => c.ok), checks });
    if (!checks.every((c) => c.ok)) process.exitCode = ExitCode.provider;
  });
}
