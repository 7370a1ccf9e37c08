/** Registration of the static `ssh` provider. */
import type { ProviderRegistration } from '../registry.js';
import { SshAdapter } from './adapter.js';
import { sshConfigSchema, sshTrustedOnlyKeys, type SshConfig } from './config.js';

export const sshProvider: ProviderRegistration<SshConfig> = {
  name: 'ssh',
  configSchema: sshConfigSchema,
  trustedOnlyKeys: sshTrustedOnlyKeys,
  create: (config) => new SshAdapter(sshConfigSchema.parse(config)),
};

export { SshAdapter };
