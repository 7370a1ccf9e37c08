/**
 * Client access on boxes without a key API (coder, codespaces, sealos-devbox): the authorizeClient
 * activity appends the client's public key to the login user's authorized_keys, once, marked with
 * the lease, and only on a box durabox created. A real sshd on loopback plays the box; its session
 * HOME is a temp dir (SetEnv), so the test never touches this machine's own ~/.ssh.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newLeaseId, useTempStateDir } from './helpers.js';
import { authorizeClient } from '../../activities/lease.js';
import type { BoxIdentity, SshTarget } from '../../providers/adapter.js';
import { sshExec } from '../../providers/common/remote.js';
import { findSshd, freePort } from '../../providers/local/sshd.js';

useTempStateDir();
const dir = mkdtempSync(join(tmpdir(), 'dbx-client-access-'));
const home = join(dir, 'home');
const authorized = join(home, '.ssh', 'authorized_keys');
let sshd: ChildProcess;
let target: SshTarget;
let clientKey: { path: string; pub: string };
const leaseId = newLeaseId();

function keygen(name: string): { path: string; pub: string } {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', path]);
  return { path, pub: readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ') };
}

beforeAll(async () => {
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const hostKey = keygen('host');
  const leaseKey = keygen('lease');
  clientKey = keygen('client');
  writeFileSync(join(dir, 'lease_keys'), `${leaseKey.pub}\n`);
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.path}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      // The lease key, and the session HOME's authorized_keys the activity appends to.
      `AuthorizedKeysFile ${join(dir, 'lease_keys')} ${authorized}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `SetEnv HOME=${home} SHLVL=1`,
      '',
    ].join('\n'),
  );
  sshd = spawn(findSshd(), ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  target = {
    user: userInfo().username,
    host: '127.0.0.1',
    port,
    keyPath: leaseKey.path,
    hostKeyAlias: `durabox-${leaseId}`,
    hostKeys: [hostKey.pub],
    workRoot: join(dir, 'work'),
  };
  for (let i = 0; i < 100 && (await sshExec(target, 'true').catch(() => ({ code: -1 }))).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
});

afterAll(() => {
  sshd?.kill();
});

const box = (provider: string): BoxIdentity => ({ provider, leaseId, resourceId: `ws-${leaseId}`, scope: 'test', details: {} });
const authorize = (provider: string, providerConfig: Record<string, unknown>, publicKey = clientKey.pub) =>
  new MockActivityEnvironment().run(authorizeClient, { provider, providerConfig, box: box(provider), publicKey, target });
const asClient = (): SshTarget => ({ ...target, keyPath: clientKey.path });

describe('client access without a key API', () => {
  it('lets the client key in once, marked with the lease, and the client can log in', async () => {
    expect((await sshExec(asClient(), 'true').catch(() => ({ code: 255 }))).code).not.toBe(0);
    expect(await authorize('coder', { url: 'https://coder.example.com' })).toEqual({ authorized: true });
    expect(await authorize('coder', { url: 'https://coder.example.com' })).toEqual({ authorized: true });
    const lines = readFileSync(authorized, 'utf8').trim().split('\n');
    expect(lines).toEqual([`${clientKey.pub} durabox-client-${leaseId}`]);
    expect((await sshExec(asClient(), 'echo in')).stdout).toBe('in\n');
  });

  it("never changes a host durabox did not create (static ssh), and refuses a key that is not a bare ed25519 key", async () => {
    const before = readFileSync(authorized, 'utf8');
    const other = keygen('other');
    const staticConfig = { host: '127.0.0.1', port: target.port, user: target.user, keyPath: target.keyPath, workRoot: target.workRoot };
    expect(await authorize('ssh', staticConfig, other.pub)).toEqual({ authorized: false });
    expect(readFileSync(authorized, 'utf8')).toBe(before);
    const bad = await authorize('coder', { url: 'https://coder.example.com' }, `${other.pub} command="sh"`).catch((e: unknown) => e);
    expect(bad).toMatchObject({ type: 'Provider.invalid' });
    expect(readFileSync(authorized, 'utf8')).toBe(before);
  });
});
