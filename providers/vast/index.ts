/** Registration of the `vast` provider (Vast.ai GPU marketplace; see docs/providers/vast.md). */
import type { ProviderRegistration } from '../registry.js';
import { vastConfigSchema, vastTrustedOnlyKeys, type VastConfig } from './config.js';

export const vastProvider: ProviderRegistration<VastConfig> = {
  name: 'vast',
  configSchema: vastConfigSchema,
  flags: [
    { flags: '--gpu <name>', description: 'GPU model, e.g. RTX_4090', key: 'gpuName' },
    { flags: '--gpu-count <n>', description: 'GPUs per instance (default 1)', key: 'gpuCount', type: 'number' },
    { flags: '--max-price <usd>', description: 'refuse offers above this many $/hour (default 1)', key: 'maxPrice', type: 'number' },
    { flags: '--vast-image <image>', description: 'docker image (default nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04)', key: 'image' },
    { flags: '--vast-disk <gb>', description: 'disk in GB (default 20)', key: 'diskGB', type: 'number' },
  ],
  trustedOnlyKeys: vastTrustedOnlyKeys,
  // The failover bound for taken offers also bounds re-renting after an instance failed to start.
  acquireAttempts: (config) => config.maxOffers,
};
