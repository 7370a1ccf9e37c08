/** Registration of the embedded `local` provider. */
import type { ProviderRegistration } from '../registry.js';
import { localConfigSchema, localTrustedOnlyKeys, type LocalConfig } from './config.js';

export const localProvider: ProviderRegistration<LocalConfig> = {
  name: 'local',
  configSchema: localConfigSchema,
  trustedOnlyKeys: localTrustedOnlyKeys,
};
