/** Registration of the embedded `local` provider. */
import type { ProviderRegistration } from '../registry.js';
import { LocalAdapter } from './adapter.js';
import { localConfigSchema, localTrustedOnlyKeys, type LocalConfig } from './config.js';

export const localProvider: ProviderRegistration<LocalConfig> = {
  name: 'local',
  configSchema: localConfigSchema,
  trustedOnlyKeys: localTrustedOnlyKeys,
  create: (config) => new LocalAdapter(localConfigSchema.parse(config)),
};

export { LocalAdapter };
