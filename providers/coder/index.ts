/** Registration of the `coder` provider (Coder workspaces over the REST API; see docs/providers/coder.md). */
import type { ProviderRegistration } from '../registry.js';
import { coderConfigSchema, coderTrustedOnlyKeys, type CoderConfig } from './config.js';

export const coderProvider: ProviderRegistration<CoderConfig> = {
  name: 'coder',
  configSchema: coderConfigSchema,
  flags: [
    { flags: '--coder-template <name>', description: 'template to create the workspace from', key: 'template' },
    { flags: '--coder-preset <name>', description: 'template version preset, by name or id', key: 'preset' },
    { flags: '--coder-param <name=value>', description: 'template parameter (repeatable)', key: 'parameters', type: 'list' },
  ],
  trustedOnlyKeys: coderTrustedOnlyKeys,
};
