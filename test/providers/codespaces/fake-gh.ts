/**
 * A fake `gh` executable for tests: a small node script written into a temp bin directory that
 * the test puts first on PATH. It records every invocation (argv, the names of token-like
 * environment variables, and a hash of any token value) and implements:
 *
 * - `gh auth token [--hostname H]`: the token of the fake's own store (store.json), or exit 1;
 * - `gh codespace ssh --config -c NAME`: gh's real block shape, including the
 *   `StrictHostKeyChecking no` / `UserKnownHostsFile=/dev/null` lines the adapter must drop; nothing
 *   for codespaces that are not Available (as gh does);
 * - `gh codespace ssh -c NAME --stdio -- -i KEY` (ProxyCommand): needs a token (env or store), then
 *   bridges stdin/stdout to the codespace's real loopback sshd.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeGh {
  binDir: string;
  path: string;
  logFile: string;
  storeFile: string;
}

export const tokenHash = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 16);

export function writeFakeGh(dir: string, stateDir: string, identityFile: string): FakeGh {
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const logFile = join(dir, 'gh-calls.jsonl');
  const storeFile = join(dir, 'store.json');
  const script = `#!${process.execPath}
const fs = require('fs'), net = require('net'), crypto = require('crypto'), path = require('path');
const args = process.argv.slice(2);
const env = process.env;
const tokenNames = Object.keys(env).filter((k) => /TOKEN|SECRET|PASSWORD|API_KEY/i.test(k));
const h = (t) => crypto.createHash('sha256').update(t).digest('hex').slice(0, 16);
fs.appendFileSync(${JSON.stringify(logFile)}, JSON.stringify({ argv: args, tokenNames, tokenHashes: tokenNames.map((k) => h(env[k] || '')), ghHost: env.GH_HOST || null }) + '\\n');
let store = null;
try { store = JSON.parse(fs.readFileSync(${JSON.stringify(storeFile)}, 'utf8')); } catch {}
const cmd = args[0] === 'cs' ? 'codespace' : args[0];
const opt = (n) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : undefined; };
if (cmd === 'auth' && args[1] === 'token') {
  if (!store || !store.token) { process.stderr.write('no oauth token found for github.com\\n'); process.exit(1); }
  process.stdout.write(store.token + '\\n'); process.exit(0);
}
if (cmd === 'auth' && args[1] === 'status') process.exit(store || env.GH_TOKEN || env.GITHUB_TOKEN ? 0 : 1);
if (cmd === 'codespace' && args[1] === 'ssh') {
  const name = opt('-c');
  let st = null;
  try { st = JSON.parse(fs.readFileSync(path.join(${JSON.stringify(stateDir)}, name + '.json'), 'utf8')); } catch {}
  const authed = !!(env.GH_TOKEN || env.GITHUB_TOKEN || (store && store.token));
  if (args.includes('--config')) {
    if (!authed) { process.stderr.write('To get started with GitHub CLI, please run:  gh auth login\\n'); process.exit(4); }
    if (!st || st.state !== 'Available') process.exit(0);
    process.stdout.write([
      'Host cs.' + name + '.main',
      '\\tUser ' + st.user,
      '\\tProxyCommand ' + process.argv[1] + ' cs ssh -c ' + name + ' --stdio -- -i ${identityFile}',
      '\\tUserKnownHostsFile=/dev/null',
      '\\tStrictHostKeyChecking no',
      '\\tLogLevel quiet',
      '\\tControlMaster auto',
      '\\tIdentityFile ${identityFile}',
      '', ''].join('\\n'));
    process.exit(0);
  }
  if (args.includes('--stdio')) {
    if (!authed) { process.stderr.write('gh: not logged in\\n'); process.exit(4); }
    if (!st || st.state !== 'Available' || !st.port) { process.stderr.write('codespace ' + name + ' is not available\\n'); process.exit(1); }
    const s = net.connect(st.port, '127.0.0.1');
    process.stdin.pipe(s); s.pipe(process.stdout);
    s.on('error', () => process.exit(1)); s.on('close', () => process.exit(0));
    return;
  }
}
process.stderr.write('fake gh: unsupported ' + JSON.stringify(args) + '\\n');
process.exit(2);
`;
  const path = join(binDir, 'gh');
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return { binDir, path, logFile, storeFile };
}
