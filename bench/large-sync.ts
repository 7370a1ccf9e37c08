/**
 * Bench 4: the first sync of a 10,000-file tree (a git repository) to a fresh local lease, against
 * plain `rsync -az` of the same tree to an empty directory on a box. The durabox figure is the sync
 * activity as the workflow saw it (scheduled → completed), which includes the manifest, the
 * fingerprint, the two bookkeeping ssh calls and rsync; plain rsync pays for its own ssh connection.
 */
import { join } from 'node:path';
import {
  activitySpan, handSshArgs, historyEvents, log, makeGitRepo, median, mustRun, ratioRow, reps, round, withBench, type Row, type TargetFacts,
} from './support.js';

export const LARGE_TREE_FILES = 10_000;

export async function largeSyncBench(): Promise<{ rows: Row[]; activityOwnMs: number; treeBytes: number }> {
  return withBench('sync', {}, async (b) => {
    log(`sync: writing a ${LARGE_TREE_FILES}-file git tree`);
    let bytes = 0;
    const repo = makeGitRepo(join(b.dir, 'big'), (write) => {
      write('.gitignore', 'build/\n');
      for (let i = 0; i < LARGE_TREE_FILES - 1; i++) {
        const body = `// file ${i}\n${'export const x = 1;\n'.repeat(5 + (i % 50))}`;
        bytes += body.length;
        write(`pkg${i % 20}/dir${i % 100}/f${i}.ts`, body);
      }
    });
    const client = await b.connect();
    // A kept lease whose sshd receives the plain rsync copies.
    const small = makeGitRepo(join(b.dir, 'small'), { 'a.txt': 'a\n' });
    const kept = JSON.parse((await b.mustCli(['--json', 'run', '--keep', '--', 'true'], { cwd: small })).stdout) as { leaseId: string };
    const t = (JSON.parse((await b.mustCli(['--json', 'status', kept.leaseId])).stdout) as { target: TargetFacts & { workRoot: string } }).target;
    const rsh = ['ssh', ...handSshArgs(b.stateDir, kept.leaseId, t).slice(0, -1)].map((s) => `'${s}'`).join(' ');
    const plain = (i: number) =>
      mustRun('rsync', ['-az', '--mkpath', '--exclude', '.git', '-e', rsh, `${repo}/`, `${t.user}@${t.host}:${t.workRoot}/plain-${i}/`], { timeoutMs: 300_000 });

    log('sync: warm-up');
    await plain(0);
    const n = reps(3);
    const ours: number[] = [];
    const own: number[] = [];
    const theirs: number[] = [];
    // Each side starts with no dirty pages from the other: flushing 10,000 files written by the
    // previous measurement would otherwise be billed to the next one.
    const settle = () => mustRun('sync', []);
    for (let i = 0; i < n; i++) {
      log(`sync: round ${i + 1}/${n}`);
      await settle();
      const r = await b.mustCli(['--json', 'run', '--', 'true'], { cwd: repo, timeoutMs: 600_000 });
      const res = JSON.parse(r.stdout) as { leaseId: string; timings: { syncMs: number }; sync: { files: number; skipped: boolean } };
      if (res.sync.files !== LARGE_TREE_FILES || res.sync.skipped) throw new Error(`unexpected sync result ${JSON.stringify(res.sync)}`);
      const span = activitySpan(await historyEvents(client, `lease-${res.leaseId}`), 'syncWorkdir');
      ours.push(span?.ms ?? res.timings.syncMs);
      own.push(res.timings.syncMs);
      await settle();
      theirs.push((await plain(i + 1)).ms);
    }
    return {
      rows: [ratioRow('4 first sync, 10,000 files', 'sync activity (scheduled → completed)', ours, theirs, 'plain `rsync -az` (fresh ssh)', 1.2)],
      activityOwnMs: round(median(own)),
      treeBytes: bytes,
    };
  });
}
