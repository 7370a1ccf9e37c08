/** Registration of the `agx` provider (microVMs behind an SSH gateway; experimental, see docs/providers/agx.md). */
import type { ProviderRegistration } from '../registry.js';
import { agxConfigSchema, agxTrustedOnlyKeys, type AgxConfig } from './config.js';

export const agxProvider: ProviderRegistration<AgxConfig> = {
  name: 'agx',
  configSchema: agxConfigSchema,
  flags: [
    { flags: '--agx-gateway <host>', description: 'workspace gateway hostname (default workspace.agx.so)', key: 'gateway' },
    { flags: '--agx-user <user>', description: 'vm user, the part before "+" in the gateway login', key: 'user' },
    { flags: '--agx-key <path>', description: 'your AGX-registered private key on the worker (default ~/.ssh/id_ed25519)', key: 'keyPath' },
    { flags: '--agx-host-key <key>', description: 'pin the gateway host key ("type base64" or SHA256:fingerprint)', key: 'hostKey' },
  ],
  trustedOnlyKeys: agxTrustedOnlyKeys,
};
