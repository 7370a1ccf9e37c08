/**
 * Provider name → adapter, for the worker side (activities) and `doctor`. Kept apart from
 * `registry.ts` so that the CLI's start-up does not load every provider's HTTP and SSH code.
 */
import type { ProviderAdapter } from './adapter.js';
import { ProviderError } from './errors.js';
import { getRegistration } from './registry.js';
import { AgxAdapter } from './agx/adapter.js';
import type { AgxConfig } from './agx/config.js';
import { CoderAdapter } from './coder/adapter.js';
import type { CoderConfig } from './coder/config.js';
import { CodespacesAdapter } from './codespaces/adapter.js';
import type { CodespacesConfig } from './codespaces/config.js';
import { LocalAdapter } from './local/adapter.js';
import type { LocalConfig } from './local/config.js';
import { SealosDevboxAdapter } from './sealos-devbox/adapter.js';
import type { SealosConfig } from './sealos-devbox/config.js';
import { SshAdapter } from './ssh/adapter.js';
import type { SshConfig } from './ssh/config.js';
import { VastAdapter } from './vast/adapter.js';
import type { VastConfig } from './vast/config.js';

/** Each factory gets settings its registration's schema has already validated. */
const FACTORIES: Record<string, (config: unknown) => ProviderAdapter> = {
  agx: (c) => new AgxAdapter(c as AgxConfig),
  coder: (c) => new CoderAdapter(c as CoderConfig),
  codespaces: (c) => new CodespacesAdapter(c as CodespacesConfig),
  local: (c) => new LocalAdapter(c as LocalConfig),
  'sealos-devbox': (c) => new SealosDevboxAdapter(c as SealosConfig),
  ssh: (c) => new SshAdapter(c as SshConfig),
  vast: (c) => new VastAdapter(c as VastConfig),
};

/** Validate `config` against the provider's schema and build its adapter. */
export function getProvider(name: string, config: unknown = {}): ProviderAdapter {
  const reg = getRegistration(name);
  const parsed = reg.configSchema().safeParse(config ?? {});
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
    throw new ProviderError('invalid', `${name} settings: ${detail}`, { provider: name, operation: 'registry' });
  }
  const create = FACTORIES[name];
  if (!create) throw new ProviderError('invalid', `provider ${name} has no adapter`, { provider: name, operation: 'registry' });
  return create(parsed.data);
}

/** Registered providers without an adapter here (a test keeps this empty). */
export function providersWithoutAdapter(names: readonly string[]): string[] {
  return names.filter((n) => !FACTORIES[n]);
}
