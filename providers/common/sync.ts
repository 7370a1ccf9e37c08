/**
 * Ship a local tree to `<workRoot>/<leaseId>/<repoName>` with rsync, and prune only what durabox
 * itself shipped before. Never `rsync --delete`: caches and build outputs a command created on the
 * box must survive a re-sync.
 *
 * Round trips: (1) one ssh call compares the sync fingerprint recorded on the box (and stops there
 * when it matches: nothing changed locally, rsync is skipped), otherwise drops the recorded
 * fingerprint, reads the previous manifest and stages the new one, (2) rsync over the same
 * ControlMaster, (3) one ssh call deletes, commits the manifest and records the new fingerprint.
 * The staged manifest is appended to the old one before rsync so a sync that dies half-way still
 * remembers what it may have shipped; the fingerprint is written only after a complete sync.
 */
import { statSync } from 'node:fs';
import type { ProgressContext, SshTarget } from '../adapter.js';
import { ProviderError } from '../errors.js';
import { runProcess } from './exec.js';
import { syncFingerprint } from './fingerprint.js';
import { buildManifest, excludeRules } from './manifest.js';
import { shellQuote, sshExec, sshTransportError } from './remote.js';
import { rsyncRshCommand, sshEnv } from './ssh-options.js';
import { safeSegment } from './state-dir.js';
import { extraShipped, OUT_FORMAT, transferList } from './transfer-list.js';
import { PRUNE, pruneList } from './prune.js';

export interface SyncOptions {
  target: SshTarget;
  localRoot: string;
  leaseId: string;
  repoName: string;
  excludes?: string[];
  /** Ignore the fingerprint on the box and sync anyway. */
  force?: boolean;
}

export interface SyncResult {
  workdir: string;
  /** Files in the manifest (all shipped or already up to date). */
  files: number;
  /** Their total local size. */
  bytes: number;
  /** Remote paths removed because the last sync shipped them and this one does not. */
  deleted: number;
  /** True when the box's fingerprint matched and rsync did not run. */
  skipped: boolean;
  fingerprint: string;
}

/** Printed by the stage script instead of the old manifest when the fingerprint matches. */
const SKIP_MARKER = 'durabox-sync-fingerprint-match';

const RSYNC_TIMEOUT_MS = 15 * 60_000;

export function remoteLayout(target: SshTarget, leaseId: string, repoName: string) {
  const leaseRoot = `${target.workRoot.replace(/\/+$/, '')}/${safeSegment(leaseId)}`;
  return { leaseRoot, workdir: `${leaseRoot}/${safeSegment(repoName)}`, metaDir: `${leaseRoot}/.durabox` };
}

/** Where the box records the fingerprint of the last complete sync of a lease's tree. */
export const fingerprintFile = (metaDir: string) => `${metaDir}/sync-fingerprint`;

/** What a sync of this tree would ship, and its fingerprint, computed locally without the box. */
export async function localSyncState(opts: Omit<SyncOptions, 'force'>, signal?: AbortSignal) {
  if (!statSync(opts.localRoot).isDirectory()) throw invalid(`${opts.localRoot} is not a directory`);
  const { workdir, metaDir } = remoteLayout(opts.target, opts.leaseId, opts.repoName);
  const manifest = await buildManifest(opts.localRoot, opts.excludes, signal);
  const fingerprint = syncFingerprint({
    localRoot: opts.localRoot,
    workdir,
    paths: manifest.paths,
    git: manifest.git,
    untracked: manifest.untracked,
    head: manifest.head,
    headDiff: manifest.headDiff,
    rules: excludeRules(opts.localRoot, opts.excludes),
  });
  return { workdir, metaDir, manifest, fingerprint };
}

export async function syncTree(opts: SyncOptions, ctx: ProgressContext): Promise<SyncResult> {
  const { target } = opts;
  const { workdir, metaDir, manifest, fingerprint } = await localSyncState(opts, ctx.signal);
  ctx.log(`sync: ${manifest.paths.length} files, ${manifest.bytes} bytes${manifest.git ? ' (git manifest)' : ''}`);
  ctx.heartbeat({ phase: 'sync-manifest', files: manifest.paths.length });
  const nul = manifest.paths.map((p) => `${p}\0`).join('');

  // (1) fingerprint compared; on a mismatch the old one is dropped (a sync that dies half-way must
  // not leave a fingerprint that a later, reverted tree could match), the previous manifest comes
  // out and the new one is staged (and remembered as possibly shipped).
  const m = shellQuote(metaDir);
  const fp = shellQuote(fingerprintFile(metaDir));
  const stage = await sshExec(
    target,
    `mkdir -p -- ${m} && ` +
      (opts.force ? '' : `if [ -d ${shellQuote(workdir)} ] && [ "$(cat ${fp} 2>/dev/null)" = ${shellQuote(fingerprint)} ]; then cat >/dev/null; echo ${SKIP_MARKER}; exit 0; fi; `) +
      `rm -f -- ${fp} && touch ${m}/manifest && cat ${m}/manifest && tee ${m}/manifest.next >> ${m}/manifest`,
    { stdin: nul, signal: ctx.signal, timeoutMs: 120_000 },
  );
  if (stage.code !== 0) throw transient(`staging the manifest on the box failed (exit ${stage.code}): ${stage.stderr.trim()}`);
  // Manifest entries end in NUL, so the bare marker line can never be a manifest.
  if (stage.stdout === `${SKIP_MARKER}\n`) {
    ctx.log('sync skipped: fingerprint unchanged');
    return { workdir, files: manifest.paths.length, bytes: manifest.bytes, deleted: 0, skipped: true, fingerprint };
  }
  const current = new Set(manifest.paths);
  const toDelete = [...new Set(stage.stdout.split('\0'))].filter((p) => p && !current.has(p) && safeRelative(p));

  // (2) the transfer; anything it shipped beyond the manifest (created locally mid-sync in a
  // directory named whole) is deleted again in (3).
  let extra: { files: string[]; dirs: string[] } = { files: [], dirs: [] };
  if (manifest.paths.length > 0) {
    const list = transferList(opts.localRoot, manifest.paths);
    ctx.log(`sync: rsync of ${list.entries.length} entries (${list.dirs} whole directories)`);
    // A leading `/`: rsync reads an entry that starts with `#` or `;` as a comment, even with
    // --from0, and strips leading slashes (`./` would also put the workdir itself in the transfer
    // and reset its mode to the local root's).
    const sent = await rsync(opts, workdir, list.entries.map((p) => `/${p}\0`).join(''), ctx);
    const shipped = extraShipped(sent.stdout, current);
    extra = { files: shipped.files.filter(safeRelative), dirs: shipped.dirs.filter(safeRelative) };
    if (extra.files.length > 0) ctx.log(`sync: ${extra.files.length} files appeared mid-sync; removing them from the box again`);
    if (sent.failure) {
      // Not in any manifest, so no later sync would prune them: remove them now if the box answers.
      if (extra.files.length + extra.dirs.length > 0) await removeOnBox(target, workdir, extra, ctx.signal).catch(() => undefined);
      throw sent.failure;
    }
    toDelete.push(...extra.files);
  }

  // (3) prune what we shipped before and no longer ship, then commit the manifest.
  const w = shellQuote(workdir);
  const commit = await sshExec(
    target,
    `mkdir -p -- ${w} && cd -- ${w} && ${PRUNE} && mv -f -- ${m}/manifest.next ${m}/manifest && printf '%s\\n' ${shellQuote(fingerprint)} > ${fp}.tmp && mv -f -- ${fp}.tmp ${fp}`,
    { stdin: pruneList(toDelete, extra.dirs), signal: ctx.signal, timeoutMs: 120_000 },
  );
  if (commit.code !== 0) throw transient(`pruning on the box failed (exit ${commit.code}): ${commit.stderr.trim()}`);
  if (commit.stderr.includes('durabox: some deletes failed')) ctx.log('sync: some remote deletes failed');
  return { workdir, files: manifest.paths.length, bytes: manifest.bytes, deleted: toDelete.length, skipped: false, fingerprint };
}

async function removeOnBox(target: SshTarget, workdir: string, extra: { files: string[]; dirs: string[] }, signal?: AbortSignal): Promise<void> {
  await sshExec(target, `cd -- ${shellQuote(workdir)} && ${PRUNE}`, { stdin: pruneList(extra.files, extra.dirs), signal, timeoutMs: 60_000 });
}

/**
 * Runs rsync over `nulList` (see transfer-list.ts). Returns its stdout (the `OUT_FORMAT` lines of
 * what it sent) also when it failed, with the failure to throw once what it sent is dealt with.
 */
async function rsync(opts: SyncOptions, workdir: string, nulList: string, ctx: ProgressContext): Promise<{ stdout: string; failure?: ProviderError }> {
  const t = opts.target;
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const args = [
    // Nanosecond mtimes: by default rsync compares whole seconds, so a same-size edit made within
    // a second of the last sync would be skipped by its quick check while our fingerprint changed.
    // -r: the list names whole directories where that is exact (transfer-list.ts).
    '-azr', '--modify-window=-1', '--mkpath', '--files-from=-', '--from0', `--out-format=${OUT_FORMAT}`,
    '-e', rsyncRshCommand(t),
    `${opts.localRoot.replace(/\/+$/, '')}/`,
    `${t.user}@${host}:${workdir}/`,
  ];
  let lastBeat = Date.now();
  const beat = setInterval(() => ctx.heartbeat({ phase: 'rsync', quietMs: Date.now() - lastBeat }), 5_000);
  try {
    const res = await runProcess('rsync', args, {
      stdin: nulList,
      signal: ctx.signal,
      timeoutMs: RSYNC_TIMEOUT_MS,
      env: sshEnv(t),
      onOutput: () => (lastBeat = Date.now()),
    });
    if (res.timedOut) return { stdout: res.stdout, failure: transient(`rsync timed out after ${RSYNC_TIMEOUT_MS / 60_000} min`) };
    if (res.code === 24) ctx.log('sync: some files vanished during the transfer');
    else if (res.code !== 0) {
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION|Permission denied \(/.test(res.stderr)) {
        return { stdout: res.stdout, failure: sshTransportError(t, res.stderr, 'sync') };
      }
      return { stdout: res.stdout, failure: transient(`rsync exited ${res.code}: ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`, res.code) };
    }
    return { stdout: res.stdout };
  } finally {
    clearInterval(beat);
  }
}

/** Entries read back from the box are data from the box: never let one escape the workdir. */
function safeRelative(p: string): boolean {
  return !p.startsWith('/') && !p.split('/').some((s) => s === '..' || s === '') && !p.startsWith('-');
}

function invalid(msg: string) {
  return new ProviderError('invalid', msg, { provider: 'common', operation: 'sync' });
}
function transient(msg: string, status?: number) {
  return new ProviderError('transient', msg, { provider: 'common', operation: 'sync', status });
}
