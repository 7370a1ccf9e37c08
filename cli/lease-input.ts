/** Builds a new lease's LeaseInput from validated config: names and settings, never credentials. */
import type { Client } from '@temporalio/client';
import type { LeaseInput } from '../workflows/messages.js';
import type { LoadedConfig } from './config/load.js';
import { ConfigError } from './errors.js';
import { getRegistration } from '../providers/registry.js';
import { checkSlugFlag, newLeaseId, uniqueSlug } from './lease-ids.js';
import { slugTaken } from './lease-client.js';
import { ownerName, type RepoContext } from './repo-context.js';

export async function newLeaseInput(
  client: Client,
  loaded: LoadedConfig,
  repo: RepoContext,
  opts: { slug?: string; releaseAfterRun: boolean },
): Promise<LeaseInput> {
  checkSlugFlag(opts.slug);
  const { config } = loaded;
  const slug = await uniqueSlug((s) => slugTaken(client, s), opts.slug).catch((err: Error) => {
    throw new ConfigError(err.message);
  });
  return {
    leaseId: newLeaseId(),
    slug,
    provider: config.provider,
    providerConfig: loaded.providerConfig,
    releaseAction: config.release,
    releaseAfterRun: opts.releaseAfterRun,
    idleTimeoutMs: config.idle,
    ttlMs: config.ttl,
    maxCost: config.maxCost,
    acquireAttempts: getRegistration(config.provider).acquireAttempts?.(loaded.providerConfig) ?? 1,
    repoName: repo.name,
    repo: repo.repo,
    owner: ownerName(),
  };
}
