/**
 * One real Temporal dev server (CLI v1.5.1, SQLite in a temp dir, search attributes registered,
 * ExecuteMultiOperation on, Web UI on a free loopback port) for the whole test run. Tests read its
 * address with `inject('temporalAddress')`, the Web UI's URL with `inject('temporalUiUrl')` and
 * the HTTP API's with `inject('temporalHttpUrl')`. Set DURABOX_TEST_TEMPORAL_ADDRESS (with
 * DURABOX_TEST_TEMPORAL_UI_URL for the Web UI test, and DURABOX_TEST_TEMPORAL_HTTP_URL for the HTTP
 * API tests) to use a server you run yourself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { answers, ensureSearchAttributes, startDevArgs } from '../../cli/temporal/dev-server.js';
import { freePort, sleep } from '../../cli/temporal/proc.js';
import { findTemporalCli } from '../../cli/temporal/temporal-binary.js';

const NAMESPACE = 'default';

/**
 * Every temp dir the tests make (repos, state dirs, fake binaries) goes under one root that the
 * teardown removes: test files are forked after this runs and inherit TMPDIR, so os.tmpdir() there
 * points here. DURABOX_TEST_KEEP_TMP=1 keeps it for a post-mortem.
 */
function useRunTmpRoot(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'dbxt-'));
  process.env.TMPDIR = root;
  return () => {
    if (process.env.DURABOX_TEST_KEEP_TMP === '1') process.stderr.write(`test temp files kept in ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dropTmpRoot = useRunTmpRoot();
  const existing = process.env.DURABOX_TEST_TEMPORAL_ADDRESS;
  if (existing) {
    await ensureSearchAttributes(existing, NAMESPACE);
    project.provide('temporalAddress', existing);
    project.provide('temporalNamespace', NAMESPACE);
    project.provide('temporalUiUrl', process.env.DURABOX_TEST_TEMPORAL_UI_URL ?? '');
    project.provide('temporalHttpUrl', process.env.DURABOX_TEST_TEMPORAL_HTTP_URL ?? '');
    return async () => dropTmpRoot();
  }

  const binary = await findTemporalCli({ log: (l) => process.stderr.write(`${l}\n`) });
  const dir = mkdtempSync(join(tmpdir(), 'durabox-test-temporal-'));
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  // The Web UI is served by the same process (test/webui drives it in a browser).
  let uiPort = await freePort();
  while (uiPort === port) uiPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === port || httpPort === uiPort) httpPort = await freePort();
  const logFd = openSync(logFile, 'a');
  // Not detached: if vitest dies, the server goes with its process group.
  const child: ChildProcess = spawn(binary, startDevArgs({ dbFile: join(dir, 'test.sqlite'), port, httpPort, namespace: NAMESPACE, uiPort }), {
    cwd: dir,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = sig ?? `exit code ${code}`));

  const deadline = Date.now() + 30_000;
  while (!(await answers(address, NAMESPACE, 1000))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
      throw new Error(`test Temporal dev server did not start (${exited ?? 'timeout'}): ${log}`);
    }
    await sleep(200);
  }
  await ensureSearchAttributes(address, NAMESPACE);
  project.provide('temporalAddress', address);
  project.provide('temporalNamespace', NAMESPACE);
  project.provide('temporalUiUrl', `http://127.0.0.1:${uiPort}`);
  project.provide('temporalHttpUrl', `http://127.0.0.1:${httpPort}`);

  return async () => {
    if (!exited) {
      child.kill('SIGTERM');
      for (let i = 0; i < 100 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    dropTmpRoot();
  };
}
