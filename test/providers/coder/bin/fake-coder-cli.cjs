/**
 * Fake `coder` CLI: `version`, and `ssh --stdio [--wait yes|no|auto] <owner>/<workspace>`, which
 * finds the workspace through the fake deployment's REST API (CODER_URL + CODER_SESSION_TOKEN from
 * the environment, as the real CLI reads them) and bridges stdin/stdout to the agent's sshd.
 *
 * Every invocation appends one JSON line to $FAKE_CODER_LOG: its argv, the names of its
 * environment variables, and a hash of the token it received (never the token itself).
 */
'use strict';
const { appendFileSync } = require('node:fs');
const { createHash } = require('node:crypto');
const net = require('node:net');
const http = require('node:http');

const argv = process.argv.slice(2);
const env = process.env;
if (env.FAKE_CODER_LOG) {
  const token = env.CODER_SESSION_TOKEN;
  appendFileSync(
    env.FAKE_CODER_LOG,
    JSON.stringify({ pid: process.pid, argv, envNames: Object.keys(env).sort(), tokenSha: token ? createHash('sha256').update(token).digest('hex') : null, url: env.CODER_URL ?? null }) + '\n',
  );
}

function die(msg, code = 1) {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

function get(path) {
  return new Promise((resolve, reject) => {
    const u = new URL(env.CODER_URL.replace(/\/+$/, '') + path);
    const req = http.request(u, { method: 'GET', headers: { 'Coder-Session-Token': env.CODER_SESSION_TOKEN, accept: 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function ssh(args) {
  let stdio = false;
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--stdio') stdio = true;
    else if (args[i] === '--wait') {
      if (!['yes', 'no', 'auto'].includes(args[++i])) die(`invalid --wait ${args[i]}`);
    } else if (args[i].startsWith('-')) die(`unknown flag ${args[i]}`);
    else rest.push(args[i]);
  }
  if (!stdio || rest.length !== 1) die('usage: coder ssh --stdio <workspace>');
  if (!env.CODER_URL || !env.CODER_SESSION_TOKEN) die('You are not logged in. Try logging in using \'coder login <url>\'.');
  const ref = rest[0];
  const [owner, name] = ref.includes('/') ? ref.split('/') : ['me', ref];
  const q = encodeURIComponent(`owner:${owner} name:${name}`);
  const list = await get(`/api/v2/workspaces?q=${q}`);
  if (list.status !== 200) die(`list workspaces: ${list.status} ${JSON.stringify(list.body)}`);
  const ws = list.body.workspaces.find((w) => w.name === name);
  if (!ws) die(`workspace ${ref} not found`);
  const agents = (ws.latest_build.resources || []).flatMap((r) => r.agents || []);
  if (!agents.length) die(`workspace ${ref} has no running agent`);
  const ep = await get(`/__fake/agents/${agents[0].id}/ssh`);
  if (ep.status !== 200) die(`agent not reachable: ${ep.status}`);
  const sock = net.connect(ep.body.port, '127.0.0.1');
  process.stdin.pipe(sock);
  sock.pipe(process.stdout);
  sock.on('error', (e) => die(`dial agent: ${e.message}`));
  sock.on('close', () => process.exit(0));
}

if (argv[0] === 'version') {
  process.stdout.write('Coder v2.99.0-fake+test\n');
} else if (argv[0] === 'ssh') {
  ssh(argv.slice(1)).catch((e) => die(String(e && e.message)));
} else {
  die(`fake coder: unsupported command ${argv.join(' ')}`);
}
