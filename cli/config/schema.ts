/**
 * durabox's configuration schema, composed from the general settings and each provider's own
 * settings schema (from the registry), so a new provider never edits this file. Strict: an unknown
 * key is an error.
 */
import { z } from 'zod';
import { ReleaseActionSchema } from '../../providers/adapter.js';
import { providerRegistrations } from '../../providers/registry.js';
import { DurationSchema } from './duration.js';

/** An environment variable name, or a prefix ending in `*`. */
export const EnvPatternSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'must be an environment variable name, or a prefix ending in *');

export const GeneralShape = {
  provider: z.string().min(1).default('local'),
  release: ReleaseActionSchema.optional(),
  idle: DurationSchema.default(30 * 60_000),
  ttl: DurationSchema.default(90 * 60_000),
  /** US$ budget per lease: released once the provider's quoted rate × time reaches it. */
  maxCost: z.number().positive().max(100_000).optional(),
  env: z.array(EnvPatternSchema).default(['CI']),
  excludes: z.array(z.string().min(1)).default([]),
  taskQueue: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, 'letters, digits, dot, dash and underscore only')
    .default('durabox'),
};

/**
 * The settings schemas of the provider sections `sections` has (all of them without it). Only
 * present sections are checked: a command pays for building a provider's schema only when it reads
 * that provider's settings. An absent section needs no schema, and a key that names no provider is
 * still an unknown key.
 */
function providerShape(sections: Record<string, unknown> | undefined, wrap: (schema: z.ZodType) => z.ZodType): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const reg of providerRegistrations()) {
    if (sections && !(reg.name in sections)) continue;
    shape[reg.name] = wrap(reg.configSchema() as z.ZodType);
  }
  return shape;
}

/** The merged configuration's schema, for `config` (every provider's section without it). */
export function configSchema(config?: Record<string, unknown>) {
  return z.object({ ...GeneralShape, ...providerShape(config, (s) => s.optional()) }).strict();
}

/**
 * One source's layer: every key optional (provider sections too), unknown keys still errors. A
 * required provider key may come from another layer, so only the merged result is checked for it.
 */
export function layerSchema(layer?: Record<string, unknown>) {
  return z
    .object({ ...GeneralShape, ...providerShape(layer, (s) => (s instanceof z.ZodObject ? s.partial() : s).optional()) })
    .partial()
    .strict();
}

export type DuraboxConfig = z.output<ReturnType<typeof configSchema>> & {
  provider: string;
  release?: z.infer<typeof ReleaseActionSchema>;
  idle: number;
  ttl: number;
  maxCost?: number;
  env: string[];
  excludes: string[];
  taskQueue: string;
  [provider: string]: unknown;
};
