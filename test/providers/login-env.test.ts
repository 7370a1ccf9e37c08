/**
 * The box's cached login environment (providers/common/run-wrapper.ts), on a real box: the local
 * provider's sshd, with HOME pointed at a scratch directory so the profile under test is ours. A
 * run sees what a fresh login shell would give it, without running the profile again; a profile
 * changed by a run or between runs, another set of forwarded variables, or `freshLogin` logs in the
 * full way.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, readyBox, releaseAll, useTempStateDir } from './helpers.js';
import type { SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { killRun, readExit, remoteRunDir, startOrAttach, type RunSpec } from '../../providers/common/remote-run.js';
import { sshEnv, sshOptions } from '../../providers/common/ssh-options.js';
import { getProvider } from '../../providers/adapters.js';
import { boxPaths } from '../../providers/local/box.js';
import { runningSshd } from '../../providers/local/sshd.js';

const stateDir = useTempStateDir();
const local = getProvider('local', {});
const leaseId = newLeaseId();
const home = mkdtempSync(join(tmpdir(), 'dbx-home-'));
const profile = join(home, '.profile');
let target: SshTarget;
let seq = 0;

/** The profile counts its own runs, so a run can tell whether a login ran for it. */
const profileText = (value: string) =>
  [
    'echo x >> "$HOME/logins"',
    // Printed by every login, so only by the probe when the cache is used.
    'echo "welcome to the box"',
    `export DBX_PROFILE=${value}`,
    'PATH="$HOME/bin:$PATH"',
    'umask 027',
    'ulimit -S -n 512',
    'greet() { echo "hello from an exported function"; }; export -f greet',
    // Read-only in bash: only its export flag can carry.
    'export UID',
    'unset DBX_DROPPED',
    '',
  ].join('\n');

beforeAll(async () => {
  ({ target } = await readyBox(local, 'login-box', { leaseId, pin: true }));
  writeFileSync(profile, profileText('one'));
  // The box's sshd gives sessions our HOME (sshd applies SetEnv after its own defaults). SIGHUP makes
  // it re-read its config.
  const paths = boxPaths(leaseId);
  writeFileSync(paths.config, readFileSync(paths.config, 'utf8').replace('SetEnv SHLVL=1', `SetEnv SHLVL=1 HOME=${home} DBX_DROPPED=session`));
  process.kill(runningSshd(paths)!, 'SIGHUP');
  for (let i = 0; ; i++) {
    // A connection the listener took before it re-read its config keeps the old one: close the
    // master (ControlPersist would keep it for a minute) until a new connection has our HOME.
    spawnSync('ssh', [...sshOptions(target), '-O', 'exit', '--', target.host], { env: sshEnv(target) });
    const seen = await sshExec(target, 'echo "$HOME"').then((r) => r.stdout.trim(), () => '');
    if (seen === home) break;
    if (i >= 100) throw new Error(`the box's sessions still have HOME=${seen}`);
    // Under load the signal may have come before sshd could act on it: send it again now and then.
    const pid = i % 20 === 19 ? runningSshd(paths) : undefined;
    if (pid) process.kill(pid, 'SIGHUP');
    await sleep(100);
  }
});

afterAll(() => releaseAll(local, stateDir));

const cacheDir = () => `${target.workRoot}/.durabox-login`;
const cacheFiles = async () => (await sshExec(target, `cd ${cacheDir()} 2>/dev/null && ls -A | grep env- || true`)).stdout.split('\n').filter(Boolean);

/** Run the command on the box to its end; its stdout. */
async function run(argv: string[], opts: Partial<RunSpec> = {}): Promise<string> {
  const runId = `run_login_${++seq}`;
  await startOrAttach(target, { leaseId, runId, workdir: `${target.workRoot}/${leaseId}/repo`, argv, env: { DURABOX_RUN_ID: runId }, ...opts });
  await expect.poll(async () => (await readExit(target, leaseId, runId)).code, { timeout: 20_000, interval: 50 }).toBe(0);
  return (await sshExec(target, `cat ${remoteRunDir(target, leaseId, runId)}/stdout`)).stdout;
}

/** What the run sees: logins so far, its umask, soft open-files limit and exported function, then its environment (without what differs per run). */
// bash: dash drops exported functions from the environment it passes on.
const SEEN = ['bash', '-c', 'echo --seen--; wc -l < "$HOME/logins"; umask; ulimit -Sn; bash -c greet; env | grep -v -e ^DURABOX_RUN_ID= -e ^_= | sort'];
const parse = (out: string) => {
  const [logins, umask, nofile, greeting, ...env] = out.slice(out.indexOf('--seen--\n') + 9).trim().split('\n');
  return { logins: Number(logins), umask, nofile, greeting, env: env.join('\n') };
};

/** The probe after the last run is done: one cache file, nothing in flight. */
const probed = () => expect.poll(cacheFiles, { timeout: 15_000, interval: 50 }).toEqual([expect.stringMatching(/^env-[0-9a-f]{16}$/)]);

describe('cached login environment', () => {
  it('a run sees what a fresh login gives, without running the profile again', async () => {
    const firstOut = await run(SEEN);
    const fresh = parse(firstOut);
    expect(fresh.logins).toBe(1);
    expect(fresh.env).toContain('DBX_PROFILE=one');
    expect(fresh.env).toContain(`PATH=${home}/bin:`);
    expect(fresh.env).not.toContain('DBX_DROPPED=');
    expect(fresh.umask).toBe('0027');
    expect(fresh.nofile).toBe('512');
    expect(fresh.greeting).toBe('hello from an exported function');
    expect(fresh.env).toMatch(/^UID=\d+$/m);

    await probed();
    const cachedOut = await run(SEEN);
    const cached = parse(cachedOut);
    // One login for the first run, one for the probe after it, none for this run.
    expect(cached.logins).toBe(2);
    expect(cached).toEqual({ ...fresh, logins: 2 });
    // What the profile prints is printed by a login: the probe's went nowhere.
    expect(firstOut).toContain('welcome to the box');
    expect(cachedOut).not.toContain('welcome to the box');

    // The cache holds what the profile changed, not the session's own variables.
    const [file] = await cacheFiles();
    const text = (await sshExec(target, `cat ${cacheDir()}/${file}`)).stdout;
    expect(text).toMatch(/^export DBX_PROFILE=one$/m);
    expect(text).toMatch(/^unset DBX_DROPPED$/m);
    expect(text).toMatch(/^umask 0027$/m);
    expect(text).not.toMatch(/SSH_CONNECTION|SSH_CLIENT|HOME=/);
    // A profile may export tokens: the cache is the box user's alone.
    expect((await sshExec(target, `stat -c %a ${cacheDir()} ${cacheDir()}/${file}`)).stdout.split('\n').slice(0, 2)).toEqual(['700', '600']);
  });

  it("a run's change to the profile is seen by the next run", async () => {
    await probed();
    await run(['sh', '-c', `echo 'export DBX_PROFILE=two' >> "$HOME/.profile"`]);
    await probed();
    const after = parse(await run(SEEN));
    expect(after.env).toContain('DBX_PROFILE=two');
    expect(after.env).not.toContain('DBX_PROFILE=one');
  });

  it('a profile changed between runs, or freshLogin, logs in the full way', async () => {
    await probed();
    const logins = async () => Number((await sshExec(target, 'wc -l < "$HOME/logins"')).stdout.trim());
    // Changed outside any run (as in a `durabox ssh` session), after the probe: its time is newer.
    await sleep(20);
    appendFileSync(profile, 'export DBX_PROFILE=three\n');
    const before = await logins();
    const changed = parse(await run(SEEN));
    expect(changed.logins).toBe(before + 1);
    expect(changed.env).toContain('DBX_PROFILE=three');

    await probed();
    const cached = parse(await run(SEEN));
    expect(cached.logins).toBe(changed.logins + 1);
    await probed();
    const forced = parse(await run(SEEN, { freshLogin: true }));
    // The cached run's probe, then the forced run's own login.
    expect(forced.logins).toBe(cached.logins + 2);
    expect(forced.env).toBe(cached.env);
  });

  it('a killed run drops the cache too (its wrapper dies before it can)', async () => {
    await probed();
    const runId = `run_login_${++seq}`;
    await startOrAttach(target, { leaseId, runId, workdir: `${target.workRoot}/${leaseId}/repo`, argv: ['sleep', '30'], env: { DURABOX_RUN_ID: runId } });
    expect(await cacheFiles()).toHaveLength(1);
    await killRun(target, leaseId, runId, 'cancelled', 1);
    expect(await cacheFiles()).toEqual([]);
    expect((await readExit(target, leaseId, runId)).code).toBe(130);
    const after = parse(await run(SEEN));
    expect(after.env).toContain('DBX_PROFILE=three');
  });

  it('another set of forwarded variables logs in, and is cached once it repeats', async () => {
    await probed();
    const base = parse(await run(SEEN));
    await probed();
    const ci = { CI: 'true', DURABOX_RUN_ID: 'x' };
    const withCi = parse(await run(SEEN, { env: ci }));
    // The base run's probe, then this run's own login (nothing cached for this key yet).
    expect(withCi.logins).toBe(base.logins + 2);
    expect(withCi.env).toContain('CI=true');
    // A key the previous run did not have may change every run: no probe for it yet.
    await sleep(1500);
    expect(await cacheFiles()).toEqual([]);
    const again = parse(await run(SEEN, { env: ci }));
    expect(again.logins).toBe(withCi.logins + 1);
    await probed();
    const cached = parse(await run(SEEN, { env: ci }));
    expect(cached.logins).toBe(again.logins + 1);
    expect(cached.env).toBe(withCi.env);
  });
});
