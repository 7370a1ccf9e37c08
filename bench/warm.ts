/**
 * Benches 1 and 2: a warm rerun on a ready local lease.
 *
 *   1. nothing changed:   `durabox run --id L -- true`  vs  `ssh -i key … host true` (fresh connection)
 *   2. one file changed:  the same                      vs  `rsync -az` of the tree + `ssh host true`
 *
 * Where the time goes comes from the CLI's `durabox-trace` lines (DURABOX_TRACE=1) and the lease
 * workflow's history event times (same machine, same clock).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  activityTime, handSshArgs, historyEvents, log, makeGitRepo, median, mustRun, ratioRow, reps, round, smallTree, withBench,
  type HistoryEvent, type Row, type TargetFacts, type Timed,
} from './support.js';

const TREE_FILES = 200;
const TRACE = { DURABOX_TRACE: '1' };

interface Breakdown {
  total: number;
  /** process start → the command's modules loaded (node itself, zod, commander, yaml…). */
  modules: number;
  /** → the lease addressed (config, repo context, the server check; over gRPC also its client loaded and connected). */
  connect: number;
  /** → run update sent (resolve the lease, describe it for a resume, the "running on" line). */
  send: number;
  /** → update accepted by the workflow (the request and a workflow task). */
  toAccepted: number;
  /** Activities inside the run: sync, and run (every attempt: a stale-tree check, then the run). */
  sync: number;
  run: number;
  /** everything else between accepted and completed inside the workflow (task round trips). */
  workflowGaps: number;
  /** update completed → the CLI has the result (the update poll's answer). */
  toResult: number;
  /** → output drained, progress poller stopped, connections closed. */
  wrapUp: number;
  /** → process gone (event loop drains, node exit). */
  exit: number;
}

export async function warmBench(): Promise<{ rows: Row[]; breakdown: Record<string, Record<string, number>> }> {
  return withBench('warm', {}, async (b) => {
    const repo = makeGitRepo(join(b.dir, 'repo'), smallTree(TREE_FILES));
    // The hand-made baseline edits its own identical copy: an edit in durabox's tree would make the
    // next "nothing changed" round a changed one.
    const handRepo = makeGitRepo(join(b.dir, 'hand-repo'), smallTree(TREE_FILES));
    log(`warm: creating a kept lease (tree of ${TREE_FILES} files)`);
    const first = await b.mustCli(['--json', 'run', '--keep', '--', 'true'], { cwd: repo });
    const leaseId = (JSON.parse(first.stdout) as { leaseId: string }).leaseId;
    const status = JSON.parse((await b.mustCli(['--json', 'status', leaseId])).stdout) as { target: TargetFacts & { workRoot: string } };
    const t = status.target;
    const client = await b.connect();
    const wfId = `lease-${leaseId}`;
    const ssh = (cmd: string, mux?: string) => mustRun('ssh', [...handSshArgs(b.stateDir, leaseId, t, { multiplexed: mux }), cmd], { timeoutMs: 30_000 });
    const muxPath = join(b.dir, 'mux');

    // Warm everything once: the worker's ControlMaster, the OS caches, the hand-made copy.
    await b.mustCli(['run', '--id', leaseId, '--', 'true'], { cwd: repo });
    await ssh('true');
    await ssh('true', muxPath);
    const handDir = `${t.workRoot}/hand-copy/`;
    const rsyncVia = (sshArgs: string[]) => ['-az', '--mkpath', '--exclude', '.git', '-e', ['ssh', ...sshArgs.slice(0, -1)].map(q).join(' '), `${handRepo}/`, `${t.user}@${t.host}:${handDir}`];
    const rsyncArgs = rsyncVia(handSshArgs(b.stateDir, leaseId, t));
    // The same over a warm ControlMaster, as the worker's rsync runs: for the composite floor below.
    const rsyncMuxArgs = rsyncVia(handSshArgs(b.stateDir, leaseId, t, { multiplexed: muxPath }));
    await mustRun('rsync', rsyncArgs, { timeoutMs: 60_000 });

    const n = reps(7);
    const unchanged: number[] = [];
    const floor: number[] = [];
    const floorMux: number[] = [];
    // durabox starts the command in the user's login shell (their PATH lives in their profile);
    // plain `ssh host true` does not read the profile. Reported beside the floor, not instead of it:
    // over a fresh connection, and over a warm ControlMaster as the worker's sessions run.
    const floorLogin: number[] = [];
    const floorLoginMux: number[] = [];
    const handSyncMux: number[] = [];
    // What any CLI on the Temporal TypeScript client pays per call (node, the client's modules, a
    // first connection and one call), the part of durabox's time that is not durabox's either.
    const clientFloor: number[] = [];
    // How each rerun reached Temporal (the CLI's `lease channel` trace line).
    const channels: string[] = [];
    const channelOf = (r: Timed) => /^durabox-trace \d+ lease channel: (\w+)$/m.exec(r.stderr)?.[1] ?? 'unknown';
    const clientCall = () => mustRun(process.execPath, [fileURLToPath(new URL('./client-floor.js', import.meta.url)), b.server!.address, b.server!.namespace], { timeoutMs: 30_000 });
    const changed: number[] = [];
    const handSync: number[] = [];
    const parts1: Breakdown[] = [];
    const parts2: Breakdown[] = [];
    let seen = (await historyEvents(client, wfId)).length;
    const newEvents = async () => {
      const all = await historyEvents(client, wfId);
      const fresh = all.slice(seen);
      seen = all.length;
      return fresh;
    };

    for (let i = 0; i < n; i++) {
      log(`warm: round ${i + 1}/${n}`);
      // 1. nothing changed
      const r1 = await b.mustCli(['run', '--id', leaseId, '--', 'true'], { cwd: repo, env: TRACE });
      unchanged.push(r1.ms);
      channels.push(channelOf(r1));
      parts1.push(breakdown(r1, await newEvents()));
      floor.push((await ssh('true')).ms);
      floorMux.push((await ssh('true', muxPath)).ms);
      floorLogin.push((await ssh('bash -lc true')).ms);
      floorLoginMux.push((await ssh('bash -lc true', muxPath)).ms);
      clientFloor.push((await clientCall()).ms);

      // 2. one file changed (a new line each round, so the fingerprint differs every time)
      const file = join(repo, 'src', 'm0', 'file0.ts');
      appendFileSync(file, `// durabox bench edit ${i}\n`);
      const r2 = await b.mustCli(['run', '--id', leaseId, '--', 'true'], { cwd: repo, env: TRACE });
      if (!/synced/.test(r2.stderr)) throw new Error(`expected a sync after a change: ${r2.stderr}`);
      changed.push(r2.ms);
      channels.push(channelOf(r2));
      parts2.push(breakdown(r2, await newEvents()));
      appendFileSync(join(handRepo, 'src', 'm0', 'file0.ts'), `// hand edit ${i}\n`);
      const rs = await mustRun('rsync', rsyncArgs, { timeoutMs: 60_000 });
      const tr = await ssh('true');
      handSync.push(rs.ms + tr.ms);
      appendFileSync(join(handRepo, 'src', 'm0', 'file0.ts'), `// hand edit ${i}, multiplexed\n`);
      handSyncMux.push((await mustRun('rsync', rsyncMuxArgs, { timeoutMs: 60_000 })).ms);
    }
    writeFileSync(join(repo, 'src', 'm0', 'file0.ts'), 'export const v0 = 0;\n');

    // What is not durabox's inside a rerun: the login shell a run uses (and for row 2 the rsync), over
    // a warm ControlMaster as the worker runs them. The gRPC client call is what the HTTP path skips.
    const clientMs = median(clientFloor);
    const loginMux = median(floorLoginMux);
    const syncAndLogin = median(handSyncMux) + loginMux;
    const via = [...new Set(channels)].join('/');
    const rows = [
      ratioRow('1 warm rerun, nothing changed', '`durabox run --id L -- true`', unchanged, floor, '`ssh host true` (fresh connection)', 2,
        `CLI to Temporal over ${via}; vs multiplexed ssh (${round(median(floorMux))} ms): ${round(median(unchanged) / median(floorMux), 1)}×; ` +
          `\`ssh host bash -lc true\` (the login shell a run uses) takes ${round(median(floorLogin))} ms fresh, ${round(loginMux)} ms multiplexed; ` +
          `a bare gRPC client call (node, @temporalio/client, connect, one call), which the HTTP API path does without, takes ${round(clientMs)} ms`),
      ratioRow('2 warm rerun, one file changed', '`durabox run --id L -- true`', changed, handSync, '`rsync -az` tree + `ssh host true`', 1.5,
        `vs rsync and the login shell, both multiplexed (${round(syncAndLogin)} ms; rsync alone ${round(median(handSyncMux))} ms): ` +
          `${round(median(changed) / syncAndLogin, 2)}×`),
    ];
    rows[0].baselineSamples = floor.map((x) => round(x));
    return { rows, breakdown: { 'nothing changed': medianBreakdown(parts1), 'one file changed': medianBreakdown(parts2) } };
  });
}

function breakdown(r: Timed, events: HistoryEvent[]): Breakdown {
  // `durabox-trace <ms since the CLI process started> <label>` lines (DURABOX_TRACE=1).
  const mark = (label: string) => {
    const m = r.stderr.match(new RegExp(`^durabox-trace (\\d+) ${label}$`, 'm'));
    return m ? r.startedAt + Number(m[1]) : NaN;
  };
  const loaded = mark('modules loaded');
  // The lease is addressed (over HTTP, or over gRPC once its client is loaded and connected).
  const connected = mark('lease channel: \\w+');
  const sent = mark('run sent');
  const returned = mark('run returned');
  const closed = mark('connections closed');
  const accepted = events.find((e) => e.type === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED');
  const completed = events.find((e) => e.type === 'WORKFLOW_EXECUTION_UPDATE_COMPLETED');
  const sync = activityTime(events, 'syncWorkdir');
  const run = activityTime(events, 'runCommand');
  const inWorkflow = accepted && completed ? completed.at - accepted.at : NaN;
  return {
    total: r.ms,
    modules: loaded - r.startedAt,
    connect: connected - loaded,
    send: sent - connected,
    toAccepted: accepted ? accepted.at - sent : NaN,
    sync,
    run,
    workflowGaps: inWorkflow - sync - run,
    toResult: completed ? returned - completed.at : NaN,
    wrapUp: closed - returned,
    exit: r.startedAt + r.ms - closed,
  };
}

function medianBreakdown(parts: Breakdown[]): Record<string, number> {
  const keys = Object.keys(parts[0] ?? {}) as (keyof Breakdown)[];
  return Object.fromEntries(keys.map((k) => [k, round(median(parts.map((p) => p[k]).filter((x) => Number.isFinite(x))))]));
}

const q = (s: string) => (/^[A-Za-z0-9_./=:@^,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
