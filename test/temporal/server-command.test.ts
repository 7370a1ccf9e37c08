/**
 * `durabox server start|status|stop` end to end through the built CLI: a real dev server and the
 * real background worker in a temp state dir on non-default ports, surviving the CLI's exit.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isAlive } from '../../cli/temporal/proc.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');
const run = promisify(execFile);

describe.skipIf(!existsSync(MAIN))('durabox server (built CLI)', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;
  const cli = (...args: string[]) => run(process.execPath, [MAIN, ...args], { env, timeout: 120_000 });

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'durabox-servercmd-'));
    env = {
      ...process.env,
      DURABOX_STATE_DIR: stateDir,
      DURABOX_TEMPORAL_PORT: String(await freePort()),
      DURABOX_UI_PORT: String(await freePort()),
      DURABOX_TEMPORAL_HTTP_PORT: String(await freePort()),
      DURABOX_TASK_QUEUE: 'server-cmd-test',
    };
    delete env.TEMPORAL_ADDRESS;
  });

  afterAll(async () => {
    await cli('server', 'stop').catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('start → status → start again (reused) → stop', async () => {
    const started = await cli('server', 'start');
    expect(started.stdout).toContain(`127.0.0.1:${env.DURABOX_TEMPORAL_PORT}`);
    expect(started.stdout).toContain(`http://127.0.0.1:${env.DURABOX_UI_PORT}`);
    expect(started.stdout).toContain(`http api  http://127.0.0.1:${env.DURABOX_TEMPORAL_HTTP_PORT}`);

    // The CLI has exited; both daemons must still be up.
    const status = JSON.parse((await cli('server', 'status', '--json')).stdout);
    expect(status.server).toMatchObject({ running: true, answering: true });
    expect(status.worker).toMatchObject({ running: true, ready: true, taskQueue: 'server-cmd-test' });
    expect(isAlive(status.server.pid)).toBe(true);
    expect(isAlive(status.worker.pid)).toBe(true);

    const again = await cli('server', 'start');
    expect(again.stdout).toMatch(/already running/);
    const status2 = JSON.parse((await cli('server', 'status', '--json')).stdout);
    expect(status2.server.pid).toBe(status.server.pid);
    expect(status2.worker.pid).toBe(status.worker.pid);

    const stopped = await cli('server', 'stop');
    expect(stopped.stdout).toMatch(/worker\s+stopped/);
    expect(stopped.stdout).toMatch(/temporal\s+stopped/);
    expect(isAlive(status.server.pid)).toBe(false);
    expect(isAlive(status.worker.pid)).toBe(false);
    const status3 = JSON.parse((await cli('server', 'status', '--json')).stdout);
    expect(status3.server.running).toBe(false);
    expect(status3.worker.running).toBe(false);
  });
});
