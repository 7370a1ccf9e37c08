/** Flags shared by commands that start a lease, and their mapping onto config keys. */
import { Option, type Command } from 'commander';
import { providerRegistrations, type ProviderFlag } from '../../providers/registry.js';
import { parseDuration } from '../config/duration.js';
import type { Layer } from '../config/load.js';
import { ConfigError } from '../errors.js';

/** Parsed options: the common ones by name, provider flags by commander's attribute name. */
export interface LeaseConfigFlags {
  provider?: string;
  release?: string;
  ttl?: string;
  idle?: string;
  env?: string[];
  exclude?: string[];
  taskQueue?: string;
  maxCost?: string;
  [providerFlag: string]: unknown;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const providerFlags = (): Array<{ provider: string; flag: ProviderFlag; option: Option }> =>
  providerRegistrations().flatMap((reg) =>
    (reg.flags ?? []).map((flag) => {
      const option = new Option(flag.flags, `${reg.name} provider: ${flag.description}`);
      if (flag.type === 'list') option.argParser(collect);
      return { provider: reg.name, flag, option };
    }),
  );

export function addLeaseConfigOptions(cmd: Command): Command {
  cmd
    .option('--provider <name>', 'provider for a new lease (default: local)')
    .option('--release <action>', 'what happens to the box at the end: stop, delete or keep')
    .option('--ttl <duration>', 'maximum lifetime of the lease (default 90m)')
    .option('--idle <duration>', 'release after this long without a run or touch (default 30m)')
    .option('--env <name>', 'forward this environment variable by name (repeatable; NAME* for a prefix)', collect)
    .option('--exclude <pattern>', 'do not sync paths matching this pattern (repeatable)', collect)
    .option('--task-queue <name>', 'Temporal task queue of the durabox workers (default durabox)')
    .option('--max-cost <usd>', "release the box once the provider's quoted rate × time reaches this many US$");
  for (const { option } of providerFlags()) cmd.addOption(option);
  return cmd;
}

const asNumber = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v);

/** Flags as a config layer; zod validates the values in `loadConfig` like any other source. */
export function leaseConfigFlags(o: LeaseConfigFlags): Layer {
  const sections: Record<string, Layer> = {};
  for (const { provider, flag, option } of providerFlags()) {
    const value = o[option.attributeName()];
    if (value === undefined) continue;
    const section = (sections[provider] ??= {});
    section[flag.key] = flag.type === 'number' && typeof value === 'string' ? asNumber(value) : value;
  }
  return {
    provider: o.provider,
    release: o.release,
    ttl: o.ttl,
    idle: o.idle,
    excludes: o.exclude,
    taskQueue: o.taskQueue,
    maxCost: o.maxCost === undefined ? undefined : asNumber(o.maxCost),
    ...sections,
  };
}

export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (!ms) throw new ConfigError(`${flag} ${JSON.stringify(value)}: not a duration (use e.g. 45s, 20m, 1h30m)`);
  return ms;
}
