/** Registration of the `codespaces` provider (GitHub Codespaces; see docs/providers/codespaces.md). */
import type { ProviderRegistration } from '../registry.js';
import { codespacesConfigSchema, codespacesTrustedOnlyKeys, type CodespacesConfig } from './config.js';

export const codespacesProvider: ProviderRegistration<CodespacesConfig> = {
  name: 'codespaces',
  configSchema: codespacesConfigSchema,
  flags: [
    { flags: '--repo <owner/name>', description: 'codespaces: GitHub repository (default: the origin remote)', key: 'repo' },
    { flags: '--codespaces-ref <ref>', description: 'codespaces: branch or tag to create from', key: 'ref' },
    { flags: '--codespaces-machine <name>', description: 'codespaces: machine type, e.g. basicLinux32gb', key: 'machine' },
    { flags: '--codespaces-devcontainer <path>', description: 'codespaces: devcontainer.json path in the repository', key: 'devcontainerPath' },
    { flags: '--codespaces-geo <geo>', description: 'codespaces: EuropeWest, SoutheastAsia, UsEast or UsWest', key: 'geo' },
  ],
  trustedOnlyKeys: codespacesTrustedOnlyKeys,
};
