/**
 * zod schemas for every Coder answer the adapter reads (coder-swagger-subset.json, `codersdk.*`).
 * Unknown fields are ignored; a field we rely on with the wrong type is an `invalid` error naming
 * the path, never a silent `undefined`.
 */
import { z } from 'zod';

const optStr = z.string().nullable().optional();

export const UserSchema = z.object({
  id: z.string().min(1),
  username: z.string().min(1),
  organization_ids: z.array(z.string()).nullable().optional(),
});
export type CoderUser = z.infer<typeof UserSchema>;

export const AgentSchema = z.object({
  id: z.string().min(1),
  name: optStr,
  status: optStr,
  lifecycle_state: optStr,
  operating_system: optStr,
});
export type CoderAgent = z.infer<typeof AgentSchema>;

export const ResourceSchema = z.object({
  agents: z.array(AgentSchema).nullable().optional(),
});

export const JobSchema = z.object({
  status: optStr,
  error: optStr,
});

export const BuildSchema = z.object({
  id: z.string().min(1),
  build_number: z.number().int().optional(),
  status: optStr,
  transition: optStr,
  job: JobSchema.nullable().optional(),
  resources: z.array(ResourceSchema).nullable().optional(),
  workspace_id: optStr,
  template_version_id: optStr,
});
export type CoderBuild = z.infer<typeof BuildSchema>;

export const WorkspaceSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  owner_id: optStr,
  owner_name: optStr,
  organization_id: optStr,
  template_id: optStr,
  template_name: optStr,
  created_at: optStr,
  last_used_at: optStr,
  latest_build: BuildSchema.nullable().optional(),
});
export type CoderWorkspace = z.infer<typeof WorkspaceSchema>;

/** `codersdk.WorkspacesResponse`; precedent also accepts `items|data` envelopes or a bare array. */
export const WorkspacesSchema = z
  .union([
    z.object({ workspaces: z.array(WorkspaceSchema).nullable(), count: z.number().int().optional() }),
    z.object({ items: z.array(WorkspaceSchema) }),
    z.object({ data: z.array(WorkspaceSchema) }),
    z.array(WorkspaceSchema),
  ])
  .transform((v) => {
    if (Array.isArray(v)) return { workspaces: v, count: v.length };
    if ('workspaces' in v) return { workspaces: v.workspaces ?? [], count: v.count ?? (v.workspaces ?? []).length };
    const list = 'items' in v ? v.items : v.data;
    return { workspaces: list, count: list.length };
  });

export const TemplateSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  active_version_id: z.string().min(1),
  organization_id: optStr,
  deprecated: z.boolean().nullable().optional(),
});
export type CoderTemplate = z.infer<typeof TemplateSchema>;
export const TemplatesSchema = z.array(TemplateSchema);

export const ParameterSchema = z.object({
  name: z.string().min(1),
  required: z.boolean().nullable().optional(),
  default_value: optStr,
  ephemeral: z.boolean().nullable().optional(),
  type: optStr,
});
export const ParametersSchema = z.array(ParameterSchema);

/**
 * A template version's preset (GET /api/v2/templateversions/{id}/presets). `codersdk.Preset` has
 * no JSON tags, so servers send `ID`, `Name`, `Parameters: [{Name, Value}]`; the API reference
 * shows them in lower case. Both are read.
 */
const pick = (o: Record<string, unknown>, key: string) => o[key] ?? (key === 'id' ? o.ID : o[key.charAt(0).toUpperCase() + key.slice(1)]);
const lowerKeys = (v: unknown, keys: string[]) => {
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(keys.map((k) => [k, pick(v as Record<string, unknown>, k)]));
};
export const PresetSchema = z.preprocess(
  (v) => lowerKeys(v, ['id', 'name', 'parameters']),
  z.object({
    id: z.string().min(1),
    name: z.string(),
    parameters: z
      .array(z.preprocess((p) => lowerKeys(p, ['name', 'value']), z.object({ name: z.string().min(1), value: z.string() })))
      .nullable()
      .optional()
      .transform((ps) => ps ?? []),
  }),
);
export type CoderPreset = z.infer<typeof PresetSchema>;
export const PresetsSchema = z.array(PresetSchema);
export type CoderParameter = z.infer<typeof ParameterSchema>;

/** Error bodies: `codersdk.Response` `{message, detail, validations[]}`. */
export const ErrorBodySchema = z.object({
  message: z.string().optional(),
  detail: z.string().optional(),
  validations: z.array(z.object({ field: z.string(), detail: z.string() })).nullable().optional(),
});

/** The first Linux agent of a build (Coder templates may also carry Windows/macOS agents). */
export function linuxAgent(build: CoderBuild | null | undefined): CoderAgent | undefined {
  const agents = (build?.resources ?? []).flatMap((r) => r.agents ?? []);
  return agents.find((a) => (a.operating_system ?? 'linux') === 'linux');
}
