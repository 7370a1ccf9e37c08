/**
 * Bench 3: a cold lease on the local provider, `durabox run -- true` from no lease to released
 * (dev server and worker already up), against a shell script doing the same by hand: user key,
 * host key, sshd start, ssh until it answers, rsync, ssh the command, stop sshd, remove it all.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../cli/temporal/proc.js';
import { findSshd } from '../providers/local/sshd.js';
import {
  activitySpan, historyEvents, log, makeGitRepo, median, mustRun, ratioRow, reps, round, smallTree, withBench, type Row,
} from './support.js';

const HAND_SCRIPT = String.raw`
set -eu
D=$(mktemp -d "$BASE/hand.XXXXXX")
ssh-keygen -q -t ed25519 -N '' -C hand -f "$D/key"
ssh-keygen -q -t ed25519 -N '' -C hand-host -f "$D/hostkey"
cat > "$D/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/hostkey
PidFile $D/sshd.pid
AuthorizedKeysFile $D/key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers $USER_NAME
EOF
"$SSHD" -D -e -f "$D/sshd_config" 2>"$D/sshd.log" &
SSHD_PID=$!
SSH="ssh -F none -i $D/key -p $PORT -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=$D/known_hosts -o LogLevel=ERROR -o KexAlgorithms=^curve25519-sha256"
i=0; until $SSH 127.0.0.1 true 2>/dev/null; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done
rsync -az --mkpath --exclude .git -e "$SSH" "$REPO/" "127.0.0.1:$D/root/work/"
$SSH 127.0.0.1 "cd $D/root/work && true"
kill "$SSHD_PID"; wait "$SSHD_PID" 2>/dev/null || true
rm -rf "$D"
`;

export async function coldBench(): Promise<{ rows: Row[]; breakdown: Record<string, number> }> {
  return withBench('cold', {}, async (b) => {
    const repo = makeGitRepo(join(b.dir, 'repo'), smallTree(200));
    const sshd = findSshd();
    const hand = async () => {
      const env = { ...process.env, BASE: b.dir, PORT: String(await freePort()), REPO: repo, SSHD: sshd, USER_NAME: userInfo().username };
      return mustRun('bash', ['-c', HAND_SCRIPT], { env, timeoutMs: 60_000 });
    };
    const client = await b.connect();
    log('cold: warm-up lease');
    await b.mustCli(['run', '--', 'true'], { cwd: repo });
    await hand();
    const n = reps(5);
    const ours: number[] = [];
    const theirs: number[] = [];
    const parts: Record<string, number>[] = [];
    for (let i = 0; i < n; i++) {
      log(`cold: round ${i + 1}/${n}`);
      const r = await b.mustCli(['--json', 'run', '--', 'true'], { cwd: repo });
      ours.push(r.ms);
      const { leaseId } = JSON.parse(r.stdout) as { leaseId: string };
      const ev = await historyEvents(client, `lease-${leaseId}`);
      const startLine = r.stderrLines.find((l) => /^durabox \S+ lease /.test(l.text));
      const started = ev.find((e) => e.type === 'WORKFLOW_EXECUTION_STARTED');
      const closed = ev.find((e) => e.type === 'WORKFLOW_EXECUTION_COMPLETED' || e.type === 'WORKFLOW_EXECUTION_FAILED');
      const span = (t: string) => activitySpan(ev, t)?.ms ?? NaN;
      const acts = ['claimWorkerQueue', 'createBox', 'waitBoxReady', 'syncWorkdir', 'runCommand', 'releaseBox'];
      const actTotal = acts.map(span).reduce((a, x) => a + x, 0);
      parts.push({
        total: r.ms,
        'cli start → lease line': startLine ? startLine.at - r.startedAt : NaN,
        'lease line → workflow started': startLine && started ? started.at - startLine.at : NaN,
        ...Object.fromEntries(acts.map((a) => [a, span(a)])),
        'workflow tasks between activities': started && closed ? closed.at - started.at - actTotal : NaN,
        'workflow closed → CLI exit': closed ? r.startedAt + r.ms - closed.at : NaN,
        historyEvents: ev.length,
      });
      theirs.push((await hand()).ms);
    }
    const keys = Object.keys(parts[0]);
    const breakdown = Object.fromEntries(keys.map((k) => [k, round(median(parts.map((p) => p[k]).filter(Number.isFinite)))]));
    return { rows: [ratioRow('3 cold lease (local)', '`durabox run -- true`, nothing → released', ours, theirs, 'shell script: keygen, sshd, ssh, rsync, kill', 2)], breakdown };
  });
}
