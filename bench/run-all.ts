/**
 * `npm run bench`: every bench in turn (or the ones named on the command line: warm, cold, sync,
 * fleet, cli), a Markdown table on stdout, and the full figures as JSON in
 * bench/results/<timestamp>.json. Each bench starts and stops its own dev server and worker.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { cliStartBench } from './cli-start.js';
import { coldBench } from './cold.js';
import { fleetBench } from './fleet.js';
import { largeSyncBench } from './large-sync.js';
import { log, resultsDir, type Row } from './support.js';
import { warmBench } from './warm.js';

type BenchFn = () => Promise<{ rows: Row[]; [extra: string]: unknown }>;

const BENCHES: Record<string, BenchFn> = {
  warm: warmBench,
  cold: coldBench,
  sync: largeSyncBench,
  fleet: fleetBench,
  cli: cliStartBench,
};

export function markdownTable(rows: Row[]): string {
  const fmt = (v: number | undefined, unit: string) => (v === undefined ? '' : unit === 'ms' ? `${v} ms` : `${v} ${unit}`);
  const lines = [
    '| bench | measured | value | floor (same run) | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      `| ${r.bench} | ${r.metric} | ${fmt(r.value, r.unit)} | ${r.baselineLabel ? `${fmt(r.baseline, r.baselineUnit ?? r.unit)} ${r.baselineLabel}` : ''} | ${r.ratio !== undefined && r.baseline !== undefined ? `${r.ratio}×` : ''} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  for (const n of names) if (!BENCHES[n]) throw new Error(`unknown bench ${n} (known: ${Object.keys(BENCHES).join(', ')})`);
  const started = new Date();
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  const failures: Record<string, string> = {};
  for (const name of names) {
    const t0 = Date.now();
    try {
      const { rows: r, ...extra } = await BENCHES[name]();
      rows.push(...r);
      details[name] = extra;
      log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (err) {
      failures[name] = (err as Error).stack ?? String(err);
      log(`${name}: FAILED: ${(err as Error).message}`);
    }
  }
  const table = markdownTable(rows);
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` };
  process.stdout.write(`${table}\n`);
  for (const [name, extra] of Object.entries(details)) {
    if (extra && Object.keys(extra as object).length) process.stdout.write(`\n${name}: ${JSON.stringify(extra)}\n`);
  }
  const file = join(resultsDir(), `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt: started.toISOString(), commit: commitMeasured(), machine, rows, details, failures }, null, 2)}\n`);
  log(`results written to ${file}`);
  if (Object.keys(failures).length) {
    for (const [name, stack] of Object.entries(failures)) process.stderr.write(`\n${name} failed:\n${stack}\n`);
    process.exitCode = 1;
  }
}

/** The commit the bench measured, with `+dirty` for uncommitted changes (absent outside git). */
function commitMeasured(): string | undefined {
  try {
    const git = (args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) ? '+dirty' : ''}`;
  } catch {
    return undefined;
  }
}

await main();
