/** Registration of the static `ssh` provider. */
import type { ProviderRegistration } from '../registry.js';
import { sshConfigSchema, sshTrustedOnlyKeys, type SshConfig } from './config.js';

export const sshProvider: ProviderRegistration<SshConfig> = {
  name: 'ssh',
  configSchema: sshConfigSchema,
  flags: [
    { flags: '--ssh-host <host>', description: 'host to use', key: 'host' },
    { flags: '--ssh-port <port>', description: 'port', key: 'port', type: 'number' },
    { flags: '--ssh-user <user>', description: 'login user', key: 'user' },
    { flags: '--ssh-key <path>', description: 'private key on the worker', key: 'keyPath' },
  ],
  trustedOnlyKeys: sshTrustedOnlyKeys,
};
