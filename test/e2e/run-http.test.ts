/**
 * `durabox run --id` on a lease that is up goes over Temporal's HTTP API (no gRPC client loaded),
 * and gives the same answers as the gRPC path: output, exit code, lease not found. When the HTTP
 * API is not there it takes the gRPC path; when the connection drops after the server took the run,
 * the gRPC client picks up that run's outcome by id, and the command ran once.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../cli/temporal/proc.js';
import { CliHarness, makeRepo, type CliResult } from '../support/cli-harness.js';

const TRACE = { DURABOX_TRACE: '1' };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const channelOf = (r: CliResult) => /durabox-trace \d+ lease channel: (\w+)/.exec(r.stderr)?.[1];

let h: CliHarness;
let repo: string;
let leaseId: string;
beforeAll(async () => {
  expect(inject('temporalHttpUrl'), 'the test server records its HTTP API').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  h = new CliHarness(inject('temporalAddress'), inject('temporalNamespace'));
  await h.startWorker();
  repo = makeRepo();
  const first = await h.run(['--json', 'run', '--keep', '--slug', 'over-http', '--', 'true'], { cwd: repo });
  expect(first.code, first.stderr).toBe(0);
  leaseId = JSON.parse(first.stdout.slice(first.stdout.indexOf('{\n'))).leaseId;
});
afterAll(async () => {
  if (leaseId) await h.run(['stop', leaseId, '--delete']);
  await h?.stop();
  h?.cleanup();
});

describe('durabox run --id over the HTTP API', () => {
  it('streams output and exits with the remote code, as the gRPC path does', async () => {
    const cmd = ['sh', '-c', 'echo "out $0"; echo "err $0" >&2; exit 3'];
    const overHttp = await h.run(['run', '--id', 'over-http', '--', ...cmd], { cwd: repo, env: TRACE });
    const overGrpc = await h.run(['run', '--id', 'over-http', '--', ...cmd], { cwd: repo, env: { ...TRACE, DURABOX_TEMPORAL_HTTP: undefined } });
    expect(channelOf(overHttp), overHttp.stderr).toBe('http');
    expect(channelOf(overGrpc), overGrpc.stderr).toBe('grpc');
    for (const r of [overHttp, overGrpc]) {
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout).toContain('out sh');
      expect(r.stderr).toContain('err sh');
    }
  });

  it('an unknown lease id: the HTTP lookup leaves the answer to gRPC, the same one-line error', async () => {
    const overHttp = await h.run(['run', '--id', 'dbx_0123456789ab', '--', 'true'], { cwd: repo, env: TRACE });
    const overGrpc = await h.run(['run', '--id', 'dbx_0123456789ab', '--', 'true'], { cwd: repo, env: { DURABOX_TEMPORAL_HTTP: undefined } });
    // A 404 is not trusted (a server without the HTTP API answers 404 everywhere).
    expect(overHttp.stderr).toMatch(/durabox-trace \d+ http api: .*; using gRPC/);
    const lastLine = (r: CliResult) => r.stderr.trim().split('\n').filter((l) => !l.startsWith('durabox-trace')).at(-1);
    for (const r of [overHttp, overGrpc]) expect(r.code, r.stderr).toBe(3);
    expect(lastLine(overHttp)).toBe(lastLine(overGrpc));
    expect(lastLine(overGrpc)).toMatch(/no lease "dbx_0123456789ab"/);
  });

  it('a run longer than the server\'s long poll (~20 s) stays on HTTP, sending the same update again', async () => {
    const r = await h.run(['run', '--id', leaseId, '--', 'sh', '-c', 'sleep 22; echo slept'], { cwd: repo, env: TRACE });
    expect(r.code, r.stderr).toBe(0);
    expect(channelOf(r)).toBe('http');
    expect(r.stderr).not.toMatch(/over gRPC/);
    expect(r.stdout).toContain('slept');
  }, 90_000);

  it('Ctrl-C on a run over HTTP: the cancel signal goes over HTTP too, the remote group dies, the lease stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-http-cancel-'));
    const cli = h.start(['run', '--id', leaseId, '--', 'sh', '-c', `sleep 300 & echo $! > ${dir}/bg; echo $$ > ${dir}/fg; echo started; wait`], { cwd: repo, env: TRACE });
    await cli.waitFor(/started/);
    const pids = ['fg', 'bg'].map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()));
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(true);
    cli.child.kill('SIGINT');
    const res = await cli.done;
    expect(res.code, res.stderr).toBe(130);
    expect(channelOf(res)).toBe('http');
    expect(res.stderr).toContain('stopping the remote command');
    expect(res.stderr).not.toMatch(/over gRPC/);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    const status = JSON.parse((await h.run(['--json', 'status', leaseId])).stdout);
    expect(status.phase).toBe('ready');
    expect(status.runs.at(-1).status).toBe('cancelled');
  });

  it('with no HTTP API at the configured address, the run goes over gRPC', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await h.run(['run', '--id', leaseId, '--', 'echo', 'still ran'], { cwd: repo, env: { ...TRACE, DURABOX_TEMPORAL_HTTP: dead } });
    expect(r.code, r.stderr).toBe(0);
    expect(channelOf(r)).toBe('grpc');
    expect(r.stdout).toContain('still ran');
  });

  // Cut while the run is still going, before the answer's first byte, or after its headers and half its body.
  for (const cutAt of ['running', 'before', 'mid'] as const) {
    const when = { running: 'while the run is still going', before: 'before the answer', mid: 'in the middle of the answer' }[cutAt];
    it(`a connection dropped ${when}, after the server took the run: its outcome comes over gRPC, and it ran once`, async () => {
      // Forwards everything to the real HTTP API, but cuts the connection instead of passing on the
      // first run update's answer: the server has the run, the CLI does not know it.
      const upstream = new URL(inject('temporalHttpUrl'));
      let cut = 0;
      const proxy = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const isRun = req.method === 'POST' && /\/update\/run\?/.test(req.url ?? '');
          // The run sleeps a second: half a second in, the server has it and the answer is not due.
          if (cutAt === 'running' && isRun && cut === 0) setTimeout(() => cut++ === 0 && req.socket.destroy(), 500);
          const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
            const body: Buffer[] = [];
            upRes.on('data', (c: Buffer) => body.push(c));
            upRes.on('end', () => {
              const all = Buffer.concat(body);
              if (req.socket.destroyed) return;
              if (cutAt !== 'running' && isRun && cut++ === 0) {
                if (cutAt === 'before') return req.socket.destroy();
                res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, 'content-length': String(all.length) });
                res.write(all.subarray(0, Math.floor(all.length / 2)), () => setTimeout(() => req.socket.destroy(), 20));
                return;
              }
              res.writeHead(upRes.statusCode ?? 502, upRes.headers).end(all);
            });
          });
          up.end(Buffer.concat(chunks));
        });
      });
      proxy.listen(0, '127.0.0.1');
      await once(proxy, 'listening');
      const file = `../ran-once-${cutAt}.txt`;
      try {
        const via = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
        const r = await h.run(['run', '--id', leaseId, '--', 'sh', '-c', `echo ran >> ${file}; sleep 1; echo "runs: $(wc -l < ${file})"`], {
          cwd: repo,
          env: { ...TRACE, DURABOX_TEMPORAL_HTTP: via },
        });
        expect(cut).toBe(1);
        expect(r.code, r.stderr).toBe(0);
        expect(channelOf(r)).toBe('http');
        expect(r.stderr).toMatch(/going on over gRPC/);
        expect(r.stdout).toContain('runs: 1');
      } finally {
        proxy.close();
      }
      const after = await h.run(['run', '--id', leaseId, '--', 'sh', '-c', `wc -l < ${file}`], { cwd: repo });
      expect(after.stdout.trim()).toBe('1');
    });
  }
});

describe('durabox status over the HTTP API', () => {
  const overHttp = (r: CliResult) => /durabox-trace \d+ status: http/.test(r.stderr);

  it('reads a running lease over HTTP, by slug or id, and says exactly what the gRPC path says', async () => {
    const bySlug = await h.run(['--json', 'status', 'over-http'], { env: TRACE });
    const byId = await h.run(['--json', 'status', leaseId], { env: TRACE });
    const grpc = await h.run(['--json', 'status', leaseId], { env: { ...TRACE, DURABOX_TEMPORAL_HTTP: undefined } });
    for (const r of [bySlug, byId, grpc]) expect(r.code, r.stderr).toBe(0);
    expect(overHttp(bySlug), bySlug.stderr).toBe(true);
    expect(overHttp(byId), byId.stderr).toBe(true);
    expect(overHttp(grpc)).toBe(false);
    const json = (r: CliResult) => JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(json(byId)).toEqual(json(grpc));
    expect(json(bySlug)).toEqual(json(grpc));
    expect(json(byId)).toMatchObject({ leaseId, slug: 'over-http', phase: 'ready', workflowStatus: 'RUNNING' });
  });

  it('leaves an ended lease to gRPC, which reads its final status from the result', async () => {
    const done = await h.run(['--json', 'run', '--', 'true'], { cwd: repo });
    expect(done.code, done.stderr).toBe(0);
    const ended = JSON.parse(done.stdout.slice(done.stdout.indexOf('{\n'))).leaseId as string;
    const r = await h.run(['--json', 'status', ended], { env: TRACE });
    expect(r.code, r.stderr).toBe(0);
    expect(overHttp(r)).toBe(false);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('{')))).toMatchObject({ leaseId: ended, phase: 'released', workflowStatus: 'COMPLETED' });
  });

  it('a dead HTTP address: the same answer over gRPC', async () => {
    const r = await h.run(['--json', 'status', leaseId], { env: { ...TRACE, DURABOX_TEMPORAL_HTTP: `http://127.0.0.1:${await freePort()}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(overHttp(r)).toBe(false);
    expect(r.stderr).toMatch(/http api: .*; using gRPC/);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('{')))).toMatchObject({ leaseId, phase: 'ready' });
  });
});

describe('what the HTTP path loads', () => {
  /** NODE_OPTIONS that make the CLI list every module it loads on stderr (an ESM load hook). */
  function loadListing(): NodeJS.ProcessEnv {
    const dir = mkdtempSync(join(tmpdir(), 'dbx-loads-'));
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(hooks, "export async function load(u, c, n) { process._rawDebug('LOADED ' + u); return n(u, c); }\n");
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
    return { NODE_OPTIONS: `--import=${register}` };
  }
  const sdkModules = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('LOADED ') && l.includes('/@temporalio/'));

  it('run --id and status of a running lease load no Temporal SDK module; the gRPC path does', async () => {
    const env = { ...TRACE, ...loadListing() };
    const run = await h.run(['run', '--id', leaseId, '--', 'true'], { cwd: repo, env });
    const status = await h.run(['--json', 'status', leaseId], { env });
    const grpc = await h.run(['--json', 'status', leaseId], { env: { ...env, DURABOX_TEMPORAL_HTTP: undefined } });
    for (const r of [run, status, grpc]) expect(r.code, r.stderr).toBe(0);
    expect(channelOf(run)).toBe('http');
    expect(sdkModules(run)).toEqual([]);
    expect(sdkModules(status)).toEqual([]);
    // The listing works: the same command over gRPC loads the client.
    expect(sdkModules(grpc).some((l) => l.includes('/@temporalio/client/'))).toBe(true);
  });
});
