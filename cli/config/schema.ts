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

export function configSchema() {
  const providerShape: Record<string, z.ZodType> = {};
  for (const reg of providerRegistrations()) providerShape[reg.name] = (reg.configSchema as z.ZodType).optional();
  return z.object({ ...GeneralShape, ...providerShape }).strict();
}

/**
 * One source's layer: every key optional (provider sections too), unknown keys still errors. A
 * required provider key may come from another layer, so only the merged result is checked for it.
 */
export function layerSchema() {
  const providerShape: Record<string, z.ZodType> = {};
  for (const reg of providerRegistrations()) {
    const schema = reg.configSchema as z.ZodType;
    providerShape[reg.name] = (schema instanceof z.ZodObject ? schema.partial() : schema).optional();
  }
  return z.object({ ...GeneralShape, ...providerShape }).partial().strict();
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
