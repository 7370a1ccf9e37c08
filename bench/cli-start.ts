/**
 * Bench 6: CLI start. `durabox --version` and `durabox status L --json` (a running lease on a
 * running server) against `node -e 0`.
 */
import { join } from 'node:path';
import { log, makeGitRepo, mustRun, ratioRow, reps, withBench, CLI, type Row } from './support.js';

export async function cliStartBench(): Promise<{ rows: Row[] }> {
  return withBench('cli', {}, async (b) => {
    const repo = makeGitRepo(join(b.dir, 'repo'), { 'a.txt': 'a\n' });
    const { leaseId } = JSON.parse((await b.mustCli(['--json', 'run', '--keep', '--', 'true'], { cwd: repo })).stdout) as { leaseId: string };
    const n = reps(9);
    const node0: number[] = [];
    const version: number[] = [];
    const status: number[] = [];
    await mustRun(process.execPath, [CLI, '--version']); // warm the file cache
    await b.mustCli(['--json', 'status', leaseId]);
    for (let i = 0; i < n; i++) {
      log(`cli: round ${i + 1}/${n}`);
      node0.push((await mustRun(process.execPath, ['-e', '0'])).ms);
      version.push((await mustRun(process.execPath, [CLI, '--version'])).ms);
      status.push((await b.mustCli(['--json', 'status', leaseId])).ms);
    }
    const s = ratioRow('6 CLI start', '`durabox status L --json`', status, node0, '`node -e 0`', Infinity, 'no target; a running lease, query answered by the worker');
    s.target = '(report)';
    s.met = undefined;
    return {
      rows: [ratioRow('6 CLI start', '`durabox --version`', version, node0, '`node -e 0`', 3), s],
    };
  });
}
