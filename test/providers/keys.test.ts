import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newLeaseId, useTempStateDir } from './helpers.js';
import { ensureLeaseKey } from '../../providers/common/keys.js';
import { childEnv } from '../../providers/common/child-env.js';
import { shellQuote, shellQuoteArgv } from '../../providers/common/remote.js';
import { rsyncRshCommand, sshCommandLine, sshOptions, controlPath } from '../../providers/common/ssh-options.js';
import type { SshTarget } from '../../providers/adapter.js';

useTempStateDir();

describe('lease keys', () => {
  it('generates one ed25519 key per lease, 0600 in a 0700 dir, and reuses it', async () => {
    const leaseId = newLeaseId();
    const a = await ensureLeaseKey(leaseId);
    expect(a.publicKey).toMatch(new RegExp(`^ssh-ed25519 \\S+ durabox-${leaseId}$`));
    expect(statSync(a.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(`${a.keyPath}.pub`).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(a.keyPath)).mode & 0o777).toBe(0o700);
    const before = readFileSync(a.keyPath);
    const [b, c] = await Promise.all([ensureLeaseKey(leaseId), ensureLeaseKey(leaseId)]);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(readFileSync(a.keyPath).equals(before)).toBe(true);
    expect(JSON.stringify(a)).not.toContain('PRIVATE KEY');
  });

  it('concurrent first calls for a fresh lease agree on one key', async () => {
    const leaseId = newLeaseId();
    const all = await Promise.all([1, 2, 3, 4].map(() => ensureLeaseKey(leaseId)));
    expect(new Set(all.map((k) => k.publicKey)).size).toBe(1);
  });
});

describe('ssh options and quoting', () => {
  const target: SshTarget = {
    user: 'root',
    host: '127.0.0.1',
    port: 2222,
    keyPath: '/k/id 50%',
    hostKeyAlias: 'durabox-dbx_0123456789ab',
    hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'],
    workRoot: '/w',
    proxyCommand: ['my-proxy', '--to', "it's %h"],
  };

  it('never weakens host-key checking and scopes everything to the lease', () => {
    const args = sshOptions(target).join(' ');
    expect(args).toContain('StrictHostKeyChecking=yes');
    expect(args).not.toMatch(/StrictHostKeyChecking=no|\/dev\/null/);
    for (const o of ['GlobalKnownHostsFile=none', 'UpdateHostKeys=no', 'CheckHostIP=no', 'HostKeyAlias=durabox-dbx_0123456789ab',
      'IdentitiesOnly=yes', 'BatchMode=yes', 'ForwardAgent=no', 'ForwardX11=no', 'KexAlgorithms=^curve25519-sha256', 'ControlMaster=auto']) {
      expect(args).toContain(o);
    }
    expect(args).toContain('/k/id 50%%'); // % escaped for ssh's token expansion
    expect(args).toContain(`ProxyCommand=my-proxy --to 'it'\\''s %%h'`);
    const khPath = sshOptions(target).find((a) => a.startsWith('UserKnownHostsFile='))!.slice('UserKnownHostsFile='.length);
    const kh = readFileSync(khPath, 'utf8');
    expect(kh).toBe(`durabox-dbx_0123456789ab ${target.hostKeys[0]}\n`);
    expect(controlPath(target).length).toBeLessThan(60);
    expect(sshOptions({ ...target, hostKeys: [] }, { hostKeyPolicy: 'accept-new' }).join(' ')).toContain('ControlPath=none');
  });

  it('builds an rsync -e string and a human command line', () => {
    expect(rsyncRshCommand(target)).toMatch(/^ssh -F none /);
    expect(rsyncRshCommand(target)).toContain(`"ProxyCommand=my-proxy --to 'it'\\''s %%h'"`);
    expect(sshCommandLine(target)).toMatch(/^ssh .* -- 127\.0\.0\.1$/);
    expect(() => sshOptions({ ...target, host: '-oProxyCommand=x' })).toThrow(/bad ssh host/);
  });

  it('quotes for sh and strips credentials from child environments', () => {
    expect(shellQuote('plain/path-1.txt')).toBe('plain/path-1.txt');
    expect(shellQuote("a b'c")).toBe(`'a b'\\''c'`);
    expect(shellQuoteArgv(['echo', '$HOME', ''])).toBe(`echo '$HOME' ''`);
    const env = childEnv({}, { PATH: '/bin', GH_TOKEN: 'x', VAST_API_KEY: 'y', CODER_SESSION_TOKEN: 'z', AWS_SECRET_ACCESS_KEY: 'w', HOME: '/h' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h' });
  });
});
