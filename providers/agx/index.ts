/** Registration of the `agx` provider (microVMs behind an SSH gateway; experimental, see docs/providers/agx.md). */
import type { ProviderRegistration } from '../registry.js';
import { AgxAdapter } from './adapter.js';
import { agxConfigSchema, agxTrustedOnlyKeys, type AgxConfig } from './config.js';

export const agxProvider: ProviderRegistration<AgxConfig> = {
  name: 'agx',
  configSchema: agxConfigSchema,
  trustedOnlyKeys: agxTrustedOnlyKeys,
  create: (config) => new AgxAdapter(agxConfigSchema.parse(config)),
};

export { AgxAdapter };
