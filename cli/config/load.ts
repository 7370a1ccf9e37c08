/**
 * Config precedence: flags > env (`DURABOX_*`) > repo `durabox.yaml` > user config > defaults.
 * Each layer is checked on its own first, so an error names the file or variable it came from; the
 * merged result is parsed once. Repository config is untrusted: it may not set the keys that decide
 * where a credential is sent (each provider lists them).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { getRegistration, providerRegistrations } from '../../providers/registry.js';
import { ConfigError } from '../errors.js';
import { configSchema, layerSchema, type DuraboxConfig } from './schema.js';

export type Layer = Record<string, unknown>;

export interface LoadOptions {
  /** Flags already converted to config keys (undefined values are ignored). */
  flags?: Layer;
  /** Extra env names from repeated `--env` flags: appended to the configured list. */
  extraEnv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Where to look for `durabox.yaml` (the repository root). */
  repoRoot?: string;
}

export interface LoadedConfig {
  config: DuraboxConfig;
  /** The selected provider's settings, parsed by its own schema with its defaults applied. */
  providerConfig: Record<string, unknown>;
  sources: string[];
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DURABOX_CONFIG) return env.DURABOX_CONFIG;
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'durabox', 'config.yaml');
}

// Loaded only when a config file exists: yaml is 70 modules, a tenth of a short command's start.
const requireYaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

function readYamlLayer(path: string): Layer | undefined {
  if (!existsSync(path)) return undefined;
  const parseYaml = requireYaml().parse;
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${path}: must be a mapping of settings`);
  return doc as Layer;
}

export function envLayer(env: NodeJS.ProcessEnv): Layer {
  const layer: Layer = {};
  const pick = (name: string, key: string, f: (v: string) => unknown = (v) => v) => {
    const v = env[name];
    if (v !== undefined && v !== '') layer[key] = f(v);
  };
  pick('DURABOX_PROVIDER', 'provider');
  pick('DURABOX_RELEASE', 'release');
  pick('DURABOX_IDLE', 'idle');
  pick('DURABOX_TTL', 'ttl');
  pick('DURABOX_TASK_QUEUE', 'taskQueue');
  pick('DURABOX_ENV', 'env', (v) => v.split(',').map((s) => s.trim()).filter(Boolean));
  pick('DURABOX_EXCLUDES', 'excludes', (v) => v.split(',').map((s) => s.trim()).filter(Boolean));
  pick('DURABOX_MAX_COST', 'maxCost', (v) => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v));
  const names = Object.keys(env).filter((k) => k.startsWith('DURABOX_'));
  for (const reg of providerRegistrations()) {
    const prefix = `DURABOX_${reg.name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_`;
    // The schema lists the keys; it is built only for a provider the environment names.
    if (!names.some((k) => k.startsWith(prefix))) continue;
    const section = providerEnvSection(prefix, reg.configSchema(), env);
    if (section) layer[reg.name] = section;
  }
  return layer;
}

/**
 * `DURABOX_<PROVIDER>_<KEY>` for every key of a provider's settings (`DURABOX_VAST_API_URL` →
 * `vast.apiUrl`, `DURABOX_SEALOS_DEVBOX_CONTEXT` → `sealos-devbox.context`). Numbers, booleans and
 * comma lists are converted by the key's schema type; zod validates the result like any layer.
 */
function providerEnvSection(prefix: string, schema: z.ZodType, env: NodeJS.ProcessEnv): Layer | undefined {
  if (!(schema instanceof z.ZodObject)) return undefined;
  const section: Layer = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const v = env[prefix + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()];
    if (v === undefined || v === '') continue;
    const base = baseType(field);
    section[key] =
      base instanceof z.ZodNumber && /^-?\d+(\.\d+)?$/.test(v) ? Number(v)
      : base instanceof z.ZodBoolean && /^(true|false)$/.test(v) ? v === 'true'
      : base instanceof z.ZodArray ? v.split(',').map((s) => s.trim()).filter(Boolean)
      : v;
  }
  return Object.keys(section).length ? section : undefined;
}

/** The type under optional/default/nullable/pipe wrappers. */
function baseType(t: z.ZodType): z.ZodType {
  let cur: z.ZodType = t;
  for (let i = 0; i < 10; i++) {
    const def = (cur as unknown as { def?: { innerType?: z.ZodType; in?: z.ZodType } }).def;
    const next = def?.innerType ?? def?.in;
    if (!next) return cur;
    cur = next;
  }
  return cur;
}

/** One line naming the source, the key and what is wrong. */
function describeIssues(source: string, error: z.ZodError): string {
  const issue = error.issues[0];
  const path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') return `${source}: unknown key ${issue.keys.map((k) => JSON.stringify(path ? `${path}.${k}` : k)).join(', ')}`;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `${source}: ${path} is required`;
  return `${source}: ${path || 'value'}: ${issue.message}`;
}

function checkLayer(source: string, layer: Layer): void {
  const res = layerSchema(layer).safeParse(layer);
  if (!res.success) throw new ConfigError(describeIssues(source, res.error));
}

/** Repository config may not redirect credentials: refuse the provider keys that decide that. */
function checkRepoTrust(source: string, layer: Layer): void {
  for (const reg of providerRegistrations()) {
    const section = layer[reg.name];
    if (!section || typeof section !== 'object') continue;
    for (const key of reg.trustedOnlyKeys ?? []) {
      if (key in (section as Layer)) {
        throw new ConfigError(
          `${source}: ${reg.name}.${key} may not be set in repository config (it decides where credentials go); set it in ${userConfigPath()}, the environment or a flag`,
        );
      }
    }
  }
}

function merge(base: Layer, over: Layer): Layer {
  const out: Layer = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] =
      prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v)
        ? merge(prev as Layer, v as Layer)
        : v;
  }
  return out;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const sources: string[] = [];
  const layers: Array<[string, Layer]> = [];
  const userPath = userConfigPath(env);
  const user = readYamlLayer(userPath);
  if (user) layers.push([userPath, user]);
  if (opts.repoRoot) {
    const repoPath = join(opts.repoRoot, 'durabox.yaml');
    const repo = readYamlLayer(repoPath);
    if (repo) {
      checkRepoTrust(repoPath, repo);
      layers.push([repoPath, repo]);
    }
  }
  const fromEnv = envLayer(env);
  if (Object.keys(fromEnv).length) layers.push(['environment (DURABOX_*)', fromEnv]);
  const flags = Object.fromEntries(Object.entries(opts.flags ?? {}).filter(([, v]) => v !== undefined));
  if (Object.keys(flags).length) layers.push(['command-line flags', flags]);

  let merged: Layer = {};
  for (const [source, layer] of layers) {
    checkLayer(source, layer);
    merged = merge(merged, layer);
    sources.push(source);
  }
  const parsed = configSchema(merged).safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues('config', parsed.error));
  const config = parsed.data as DuraboxConfig;
  if (opts.extraEnv?.length) config.env = [...config.env, ...opts.extraEnv];

  if (!providerRegistrations().some((r) => r.name === config.provider)) {
    throw new ConfigError(`unknown provider ${JSON.stringify(config.provider)} (known: ${providerRegistrations().map((r) => r.name).join(', ')})`);
  }
  const reg = getRegistration(config.provider);
  const providerParsed = (reg.configSchema() as z.ZodType).safeParse(config[config.provider] ?? {});
  if (!providerParsed.success) throw new ConfigError(describeIssues(`${config.provider} settings`, providerParsed.error));
  return { config, providerConfig: providerParsed.data as Record<string, unknown>, sources };
}

/**
 * The task queue every command must agree on: from flags' absence, env, repo and user config. The
 * embedded background worker is restarted when asked for another queue, so a command that read
 * only the environment would move the worker away from the leases' queue.
 */
export function configuredTaskQueue(cwd = process.cwd()): string {
  return loadConfig({ repoRoot: repoRootOf(cwd) }).config.taskQueue;
}

function repoRootOf(cwd: string): string {
  try {
    return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || cwd;
  } catch {
    return cwd;
  }
}
