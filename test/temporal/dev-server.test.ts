/**
 * The embedded dev server against the real Temporal CLI: start, reuse, a pid file that points at
 * some other live process, stop, and a restart on the same SQLite file.
 */
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devServerStatus, ensureDevServer, stopDevServer } from '../../cli/temporal/dev-server.js';
import { freePort, isAlive } from '../../cli/temporal/proc.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';

describe('embedded Temporal dev server', () => {
  const saved = { ...process.env };
  let stateDir: string;
  let port: number;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'durabox-devserver-'));
    port = await freePort();
    process.env.DURABOX_STATE_DIR = stateDir;
    process.env.DURABOX_TEMPORAL_PORT = String(port);
    process.env.DURABOX_UI_PORT = String(await freePort());
    process.env.DURABOX_TEMPORAL_HTTP_PORT = String(await freePort());
  });

  afterAll(async () => {
    await stopDevServer({ graceMs: 3000 }).catch(() => undefined);
    process.env = saved;
    rmSync(stateDir, { recursive: true, force: true });
  });

  const pidFile = () => join(stateDir, 'temporal', 'server.pid');

  it('starts, reports status, and is reused by a second ensure', async () => {
    const first = await ensureDevServer();
    expect(first).toMatchObject({ address: `127.0.0.1:${port}`, namespace: 'default', started: true });
    expect(first.uiUrl).toBe(`http://127.0.0.1:${process.env.DURABOX_UI_PORT}`);

    expect((await fetch(first.uiUrl)).status).toBe(200);
    // The HTTP API is on the port we chose, so a CLI can find it from the state file.
    expect(first.httpUrl).toBe(`http://127.0.0.1:${process.env.DURABOX_TEMPORAL_HTTP_PORT}`);
    const ns = await (await fetch(`${first.httpUrl}/api/v1/namespaces/default`)).json();
    expect(ns.namespaceInfo.name).toBe('default');

    const status = await devServerStatus();
    expect(status).toMatchObject({ running: true, answering: true, address: first.address });
    expect(status.dbFile).toBe(join(stateDir, 'temporal', 'durabox.sqlite'));
    const pid = status.pid!;
    expect(isAlive(pid)).toBe(true);

    const second = await ensureDevServer();
    expect(second).toMatchObject({ address: first.address, httpUrl: first.httpUrl, started: false });
    expect((await devServerStatus()).pid).toBe(pid);

    await expectSearchAttributes(first.address);
  });

  it('does not trust a pid file that names another live process', async () => {
    const realPid = readFileSync(pidFile(), 'utf8');
    writeFileSync(pidFile(), `${process.pid}\n`);

    const status = await devServerStatus();
    expect(status).toMatchObject({ running: false, answering: false, stalePid: process.pid });
    // The real server still holds the port, so a fresh start must refuse with a clear reason.
    await expect(ensureDevServer()).rejects.toThrow(new RegExp(`port ${port} .*already in use`));
    expect(isAlive(process.pid)).toBe(true);

    // The refused start left the real server's state alone; put its pid back.
    writeFileSync(pidFile(), realPid);
    expect((await devServerStatus()).running).toBe(true);
  });

  it('stops, then restarts on the same SQLite file with search attributes intact', async () => {
    const before = await devServerStatus();
    const stopped = await stopDevServer();
    expect(stopped).toMatchObject({ stopped: true, pid: before.pid, forced: false });
    expect(isAlive(before.pid!)).toBe(false);
    expect(await devServerStatus()).toMatchObject({ running: false, answering: false });
    expect((await stopDevServer()).stopped).toBe(false);

    // A leftover pid file naming a live non-temporal process is ignored, not signalled.
    writeFileSync(pidFile(), `${process.pid}\n`);
    const t0 = Date.now();
    // Two CLIs at once: the lock makes exactly one of them start a server.
    const both = await Promise.all([ensureDevServer(), ensureDevServer()]);
    expect(both.map((b) => b.started).sort()).toEqual([false, true]);
    const again = both[0];
    const status = await devServerStatus();
    expect(status.pid).not.toBe(process.pid);
    expect(status.running).toBe(true);
    console.log(`dev server restart took ${Date.now() - t0} ms`);
    await expectSearchAttributes(again.address);

    await stopDevServer();
    expect(await devServerStatus()).toMatchObject({ running: false });
  });
});

async function expectSearchAttributes(address: string) {
  const conn = await Connection.connect({ address });
  try {
    const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) expect(customAttributes).toHaveProperty(name);
  } finally {
    await conn.close();
  }
}
