/** Registration of the `sealos-devbox` provider (a Sealos DevBox on Kubernetes; see docs/providers/sealos-devbox.md). */
import type { ProviderRegistration } from '../registry.js';
import { sealosConfigSchema, sealosTrustedOnlyKeys, type SealosConfig } from './config.js';

export const sealosDevboxProvider: ProviderRegistration<SealosConfig> = {
  name: 'sealos-devbox',
  configSchema: sealosConfigSchema,
  flags: [
    { flags: '--sealos-image <image>', description: 'DevBox image', key: 'image' },
    { flags: '--sealos-context <name>', description: 'kubeconfig context (default: current-context)', key: 'context' },
    { flags: '--sealos-namespace <ns>', description: "namespace (default: the context's, else default)", key: 'namespace' },
    { flags: '--sealos-cpu <quantity>', description: 'CPU (default 2)', key: 'cpu' },
    { flags: '--sealos-memory <quantity>', description: 'memory (default 4Gi)', key: 'memory' },
    { flags: '--sealos-network <type>', description: 'SSHGate (default) or NodePort', key: 'network' },
  ],
  trustedOnlyKeys: sealosTrustedOnlyKeys,
};
