/**
 * `durabox run` from a machine that is not the lease worker's (a shared fleet): the CLI and the
 * worker have separate state dirs and the worker never reads the CLI's tree. The CLI syncs the tree
 * itself and follows the output from the box, over SSH with a key of its own that the worker let
 * in; only that key's public half enters history. A warm rerun from the same machine skips the sync.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CliHarness, makeRepo } from '../support/cli-harness.js';

let h: CliHarness;
const clientState = mkdtempSync(join(tmpdir(), 'durabox-client-'));
// The CLI's machine: its own state dir, so no worker id, no worker files, no lease keys in common.
const clientEnv = { DURABOX_STATE_DIR: clientState };

beforeAll(async () => {
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'));
  await h.startWorker();
});
afterAll(async () => {
  await h?.stop();
  h?.cleanup();
  rmSync(clientState, { recursive: true, force: true });
});

function activityTypes(history: { events?: Array<{ activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null }> | null }): string[] {
  return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? '?'] : []));
}

describe('durabox run against a worker on another machine', () => {
  it('syncs from the client, streams live from the box, and reruns warm with the sync skipped', async () => {
    const repo = makeRepo({ 'src/data.txt': 'payload-1\n' });
    // Live, proven without timing: the command holds after its first line until the CLI has
    // printed that line (the test opens the gate then); output shown only at the end would never
    // open it, and the command would give up and say so.
    const gate = join(clientState, 'gate');
    const script = `cat hello.txt src/data.txt; echo first-line; i=0; while [ ! -e ${gate} ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done; [ -e ${gate} ] || echo not-live; echo err-line >&2; echo last-line; exit 5`;
    const res = await h.run(['--json', 'run', '--keep', '--', 'sh', '-c', script], {
      cwd: repo,
      env: clientEnv,
      onStdout: (s) => {
        if (s.includes('first-line') && !existsSync(gate)) writeFileSync(gate, '');
      },
    });
    expect(res.code, res.stderr + res.stdout).toBe(5);
    expect(res.stderr).toContain("worker is on another machine; syncing from here");
    expect(res.stdout).toContain('hello from the repo');
    expect(res.stdout).toContain('payload-1');
    expect(res.stdout).toContain('last-line');
    expect(res.stderr).toContain('err-line');
    expect(res.stdout).not.toContain('not-live');
    const json = JSON.parse(res.stdout.slice(res.stdout.indexOf('{\n')));
    expect(json).toMatchObject({ exitCode: 5, status: 'failed', sync: { skipped: false } });
    expect(json.sync.files).toBeGreaterThanOrEqual(3);

    // The client's own copy of the output, for `durabox logs` on this machine.
    expect(readFileSync(join(clientState, 'runs', json.runId, 'stdout'), 'utf8')).toBe('hello from the repo\npayload-1\nfirst-line\nlast-line\n');

    const client = await h.connect();
    const handle = client.workflow.getHandle(json.workflowId);
    const history = await handle.fetchHistory();
    const types = activityTypes(history);
    expect(types).toContain('authorizeClient');
    expect(types).toContain('runCommand');
    expect(types).not.toContain('syncWorkdir');
    const text = JSON.stringify(history);
    // The client's private key never left it; its public half is what the worker let in.
    const clientKey = readFileSync(join(clientState, 'leases', json.leaseId, 'id_ed25519'), 'utf8');
    const body = clientKey.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect(body.length).toBeGreaterThan(40);
    expect(text).not.toContain(body.slice(0, 40));
    expect(text).not.toContain(repo);

    // Warm rerun from the same machine: nothing changed, so the fingerprint on the box skips rsync.
    const again = await h.run(['--json', 'run', '--id', json.leaseId, '--', 'cat', 'src/data.txt'], { cwd: repo, env: clientEnv });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('payload-1');
    expect(JSON.parse(again.stdout.slice(again.stdout.indexOf('{\n')))).toMatchObject({ sync: { skipped: true } });

    // A change is synced from the client again.
    writeFileSync(join(repo, 'src/data.txt'), 'payload-2\n');
    const changed = await h.run(['--json', 'run', '--id', json.leaseId, '--', 'cat', 'src/data.txt'], { cwd: repo, env: clientEnv });
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('payload-2');
    expect(JSON.parse(changed.stdout.slice(changed.stdout.indexOf('{\n')))).toMatchObject({ sync: { skipped: false } });

    // A third machine, with nothing of this lease on its disk, reads the first run from the box.
    const third = mkdtempSync(join(tmpdir(), 'durabox-third-'));
    try {
      const logs = await h.run(['logs', json.runId], { env: { DURABOX_STATE_DIR: third } });
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toBe('hello from the repo\npayload-1\nfirst-line\nlast-line\n');
      expect(logs.stderr).toContain('err-line');
      const attached = await h.run(['attach', json.leaseId], { env: { DURABOX_STATE_DIR: third } });
      expect(attached.stdout).toContain('payload-2');
      expect(attached.code, attached.stderr).toBe(0);
    } finally {
      rmSync(third, { recursive: true, force: true });
    }

    const stopped = await h.run(['stop', json.leaseId], { env: clientEnv });
    expect(stopped.code, stopped.stderr).toBe(0);
    const summary = (await handle.result()) as { phase: string; runs: unknown[] };
    expect(summary.phase).toBe('released');
    // Two refused first attempts (SyncFromClient) leave no run records: three runs, three records.
    expect(summary.runs).toHaveLength(3);
  });
});
