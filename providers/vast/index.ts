/** Registration of the `vast` provider (Vast.ai GPU marketplace; see docs/providers/vast.md). */
import type { ProviderRegistration } from '../registry.js';
import { VastAdapter } from './adapter.js';
import { vastConfigSchema, vastTrustedOnlyKeys, type VastConfig } from './config.js';

export const vastProvider: ProviderRegistration<VastConfig> = {
  name: 'vast',
  configSchema: vastConfigSchema,
  trustedOnlyKeys: vastTrustedOnlyKeys,
  create: (config) => new VastAdapter(vastConfigSchema.parse(config)),
};

export { VastAdapter };
export { accruedCost, budgetReached, formatCost, type AccruedCost } from './cost.js';
