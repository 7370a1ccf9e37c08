/**
 * Provider name → registration: what the CLI needs to know about a provider (its name, flags and
 * settings schema), without loading its adapter. The adapters are built by `adapters.ts`, which
 * only the worker side (and `doctor`) loads; together they are the only modules that import
 * provider folders, so adding a provider means one line in each and nothing in the CLI or
 * activities.
 */
import type { z } from 'zod';
import { ProviderError } from './errors.js';
import { agxProvider } from './agx/index.js';
import { localProvider } from './local/index.js';
import { sshProvider } from './ssh/index.js';
import { vastProvider } from './vast/index.js';
import { coderProvider } from './coder/index.js';
import { codespacesProvider } from './codespaces/index.js';
import { sealosDevboxProvider } from './sealos-devbox/index.js';

/**
 * A command-line flag that sets one key of the provider's settings section. The CLI adds every
 * registered provider's flags, so provider knowledge stays in the provider's folder.
 */
export interface ProviderFlag {
  /** Commander spec, e.g. `--gpu <name>`; prefix provider-specific names with the provider's. */
  flags: string;
  description: string;
  /** Key in the provider's settings section that the value sets. */
  key: string;
  /** `number`: numeric text becomes a number (zod still validates); `list`: repeatable. */
  type?: 'string' | 'number' | 'list';
}

export interface ProviderRegistration<C = unknown> {
  name: string;
  /** Flags of `run`, `warmup` and `doctor` that set this provider's settings. */
  flags?: readonly ProviderFlag[];
  /**
   * Zod schema of the provider's settings section (`<name>:` in durabox.yaml), built on first call:
   * a command pays only for the sections it reads.
   */
  configSchema: () => z.ZodType<C>;
  /** Settings a repository's config may not set (they decide where credentials or code go). */
  trustedOnlyKeys?: readonly string[];
  /**
   * Boxes a lease may try when one will not start (default 1). A marketplace whose instances can
   * fail to boot (vast) lets the lease rent another.
   */
  acquireAttempts?(config: C): number;
}

const REGISTRATIONS: readonly ProviderRegistration<any>[] = [localProvider, sshProvider, agxProvider, vastProvider, sealosDevboxProvider, codespacesProvider, coderProvider];

export function providerRegistrations(): readonly ProviderRegistration<unknown>[] {
  return REGISTRATIONS;
}

export function providerNames(): string[] {
  return REGISTRATIONS.map((r) => r.name);
}

export function getRegistration(name: string): ProviderRegistration<unknown> {
  const reg = REGISTRATIONS.find((r) => r.name === name);
  if (!reg) {
    throw new ProviderError('invalid', `unknown provider ${JSON.stringify(name)} (known: ${providerNames().join(', ')})`, {
      provider: name,
      operation: 'registry',
    });
  }
  return reg;
}
