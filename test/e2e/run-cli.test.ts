/**
 * `durabox run` end to end through the built CLI: a real worker process, the real dev server, the
 * local provider's real sshd, real rsync. Also proves that secrets never reach workflow history or
 * any process's argv.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

const FAKE_TOKEN = 'dbxtesttoken-5f2c9a7e1b3d';

let h: CliHarness;
beforeAll(async () => {
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'), {
    // Credentials the worker and CLI hold: they must never travel anywhere.
    GH_TOKEN: FAKE_TOKEN,
    VAST_API_KEY: FAKE_TOKEN,
    CI: 'true',
  });
  await h.startWorker();
});
afterAll(async () => {
  await h?.stop();
  h?.cleanup();
});

/** Every live process's argv, joined, for a secret scan. */
function allArgv(): string {
  let text = '';
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      text += `${readFileSync(`/proc/${pid}/cmdline`, 'utf8')}\n`;
    } catch {
      // exited meanwhile
    }
  }
  return text;
}

describe('durabox run (local provider, built CLI)', () => {
  it('syncs, streams stdout and stderr, exits with the remote code, and deletes the box', async () => {
    const repo = makeRepo({ 'src/data.txt': 'payload\n' });
    const argvSeen: string[] = [];
    let scanning = true;
    const scanner = (async () => {
      while (scanning) {
        argvSeen.push(allArgv());
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const res = await h.run(
      ['--json', 'run', '--env', 'GH_TOKEN', '--', 'sh', '-c', 'cat hello.txt src/data.txt; test -e ignored.txt && echo LEAKED; echo "ci=$CI"; echo oops >&2; sleep 1; exit 3'],
      { cwd: repo },
    );
    scanning = false;
    await scanner;
    expect(res.stderr).toContain('oops');
    expect(res.code, res.stderr).toBe(3);
    expect(res.stdout).toContain('hello from the repo');
    expect(res.stdout).toContain('payload');
    expect(res.stdout).toContain('ci=true');
    expect(res.stdout).not.toContain('LEAKED');
    expect(res.stderr).toContain('not forwarding GH_TOKEN');
    const json = JSON.parse(res.stdout.slice(res.stdout.indexOf('{\n')));
    expect(json.exitCode).toBe(3);
    expect(json.exitCodeFrom).toBe('command');
    expect(json.sync.files).toBeGreaterThanOrEqual(3);

    // The box was deleted (the local provider's default) and its key with it.
    expect(existsSync(join(h.stateDir, 'boxes', json.leaseId))).toBe(false);
    expect(existsSync(join(h.stateDir, 'leases', json.leaseId, 'id_ed25519'))).toBe(false);

    // No process ever carried the token on its command line while the lease ran.
    expect(argvSeen.length).toBeGreaterThan(3);
    expect(argvSeen.some((a) => a.includes(FAKE_TOKEN))).toBe(false);

    // Nor did the workflow history.
    const client = await h.connect();
    const history = JSON.stringify(await client.workflow.getHandle(json.workflowId).fetchHistory());
    expect(history).toContain('createBox');
    expect(history).not.toContain(FAKE_TOKEN);
    expect(history).not.toContain('PRIVATE KEY');
  });

  it('keeps a lease with --keep, reruns on it with --id, and never puts the private key in history', async () => {
    const repo = makeRepo();
    const first = await h.run(['--json', 'run', '--keep', '--slug', 'keep-me', '--', 'sh', '-c', 'echo one > made-by-command.txt; echo first'], { cwd: repo });
    expect(first.code, first.stderr).toBe(0);
    const { leaseId, workflowId } = JSON.parse(first.stdout.slice(first.stdout.indexOf('{\n')));
    const keyFile = join(h.stateDir, 'leases', leaseId, 'id_ed25519');
    const key = readFileSync(keyFile, 'utf8');
    const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect(keyBody.length).toBeGreaterThan(40);

    const second = await h.run(['run', '--id', 'keep-me', '--', 'sh', '-c', 'cat made-by-command.txt; echo second'], { cwd: repo });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('one');
    expect(second.stdout).toContain('second');
    const third = await h.run(['run', '--id', 'keep-me', '--fresh-login', '--', 'true'], { cwd: repo });
    expect(third.code, third.stderr).toBe(0);

    const status = await h.run(['--json', 'status', 'keep-me']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.phase).toBe('ready');
    expect(s.runs.map((r: { status: string }) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);

    const ssh = await h.run(['ssh', leaseId]);
    expect(ssh.stdout).toContain('StrictHostKeyChecking=yes');
    expect(ssh.stdout).not.toContain('StrictHostKeyChecking=no');
    expect(ssh.stdout).not.toContain('/dev/null');

    const client = await h.connect();
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    // --fresh-login reaches the run activity of that run only.
    const runInputs = events
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'runCommand')
      .map((a) => JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString()) as { freshLogin?: boolean });
    expect(runInputs.map((i) => i.freshLogin)).toEqual([undefined, undefined, true]);
    const history = JSON.stringify({ events });
    expect(history).not.toContain(keyBody.slice(0, 40));
    expect(history).not.toContain('PRIVATE KEY');

    const stop = await h.run(['--json', 'stop', 'keep-me', '--stop']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(JSON.parse(stop.stdout).released.action).toBe('stop');
    // Stopped, not deleted: the box directory and its files stay.
    expect(existsSync(join(h.stateDir, 'boxes', leaseId))).toBe(true);
  });

  it('rejects bad flags and bad config with one line and exit 2, creating nothing', async () => {
    const repo = makeRepo({ 'durabox.yaml': 'provider: local\nwhatever: 1\n' });
    const cases: Array<[string[], RegExp]> = [
      [['run', '--release', 'explode', '--', 'true'], /release/],
      [['run', '--ttl', 'banana', '--', 'true'], /ttl|duration/],
      [['run', '--provider', 'nope', '--', 'true'], /unknown provider/],
      [['run', '--timeout', 'soon', '--', 'true'], /--timeout/],
      [['stop', 'x', '--delete', '--keep'], /choose one/],
    ];
    for (const [args, pattern] of cases) {
      const res = await h.run(args);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(pattern);
    }
    const badRepo = await h.run(['run', '--', 'true'], { cwd: repo });
    expect(badRepo.code).toBe(2);
    expect(badRepo.stderr).toContain('durabox.yaml: unknown key "whatever"');

    const trust = makeRepo({ 'durabox.yaml': 'provider: ssh\nssh:\n  host: attacker.example\n' });
    const trustRes = await h.run(['run', '--', 'true'], { cwd: trust });
    expect(trustRes.code).toBe(2);
    expect(trustRes.stderr).toMatch(/ssh\.host may not be set in repository config/);

    const boxes = join(h.stateDir, 'boxes');
    const before = existsSync(boxes) ? readdirSync(boxes).length : 0;
    await h.run(['run', '--idle', '0s', '--', 'true'], { cwd: repo });
    expect(existsSync(boxes) ? readdirSync(boxes).length : 0).toBe(before);
  });

  it('on the embedded default, bad flags start neither the dev server nor the worker', async () => {
    const state = mkdtempSync(join(tmpdir(), 'durabox-embedded-bad-'));
    // No cluster: the CLI would start its own server and worker under `state` if it got that far.
    // A binary that does not exist makes such a start fail with another exit code as well.
    const env = { TEMPORAL_ADDRESS: undefined, DURABOX_STATE_DIR: state, DURABOX_TEMPORAL_CLI: join(state, 'no-temporal'), DURABOX_TEMPORAL_PORT: '1', DURABOX_UI_PORT: '2' };
    const cases: Array<[string[], RegExp]> = [
      [['run', '--slug', 'x', '--', 'true'], /--slug "x"/],
      [['warmup', '--slug', 'Not_A_Slug'], /--slug "Not_A_Slug"/],
      [['run', '--release', 'explode', '--', 'true'], /release/],
    ];
    for (const [args, pattern] of cases) {
      const res = await h.run(args, { env });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(2);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(pattern);
    }
    const made = existsSync(join(state, 'temporal')) ? readdirSync(join(state, 'temporal')) : [];
    expect(made.filter((f) => /server\.(pid|json)|durabox\.sqlite/.test(f))).toEqual([]);
    expect(existsSync(join(state, 'worker', 'worker.pid'))).toBe(false);
  });

  it('warmup, list, doctor, Web UI facts, and a cancelled lease still releases its box', async () => {
    const warm = await h.run(['--json', 'warmup', '--slug', 'warm-one', '--release', 'delete']);
    expect(warm.code, warm.stderr).toBe(0);
    const { leaseId, workflowId } = JSON.parse(warm.stdout);
    expect(existsSync(join(h.stateDir, 'boxes', leaseId, 'box.json'))).toBe(true);

    const list = await h.run(['--json', 'list']);
    const rows = JSON.parse(list.stdout) as Array<{ leaseId: string; slug: string; provider: string }>;
    expect(rows.find((r) => r.leaseId === leaseId)).toMatchObject({ slug: 'warm-one', provider: 'local' });

    const doctor = await h.run(['--json', 'doctor']);
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['ssh', 'rsync', 'temporal']));
    expect(report.checks.find((c) => c.name === 'temporal')?.ok).toBe(true);

    // What the Web UI shows: a static summary and filterable search attributes.
    const client = await h.connect();
    const handle = client.workflow.getHandle(workflowId);
    const desc = await handle.describe();
    expect(await desc.staticSummary()).toContain('warm-one');
    const sa = Object.fromEntries(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(sa).toMatchObject({ DuraboxLeaseId: leaseId, DuraboxSlug: 'warm-one', DuraboxProvider: 'local', DuraboxState: 'ready' });

    await handle.cancel();
    await handle.result().catch(() => undefined);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(existsSync(join(h.stateDir, 'boxes', leaseId))).toBe(false);
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history.match(/"releaseBox"/g)?.length).toBe(1);
  });
});
