/**
 * Zod schemas for the GitHub answers the adapter reads (github-codespaces-openapi-subset.json).
 * Only the fields we use are checked; the rest pass through untouched. A surprise becomes a
 * ProviderError of kind `invalid` in api.ts, never an `undefined` three calls later.
 */
import { z } from 'zod';

export const UserSchema = z.object({ id: z.number().int().positive(), login: z.string().min(1) });
export type GitHubUser = z.infer<typeof UserSchema>;

export const CODESPACE_STATES = [
  'Unknown', 'Created', 'Queued', 'Provisioning', 'Available', 'Awaiting', 'Unavailable', 'Deleted', 'Moved', 'Shutdown',
  'Archived', 'Starting', 'ShuttingDown', 'Failed', 'Exporting', 'Updating', 'Rebuilding',
] as const;
/** States a codespace never leaves towards Available. */
export const TERMINAL_STATES = new Set(['Failed', 'Unavailable', 'Deleted', 'Archived', 'Moved']);
export const STOPPED_STATES = new Set(['Shutdown', 'ShuttingDown']);

export const GitStatusSchema = z
  .object({
    ahead: z.number().int().optional(),
    behind: z.number().int().optional(),
    has_unpushed_changes: z.boolean().optional(),
    has_uncommitted_changes: z.boolean().optional(),
    ref: z.string().optional(),
  })
  .nullish();
export type GitStatus = z.infer<typeof GitStatusSchema>;

export const CodespaceSchema = z.object({
  id: z.number().int(),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/, 'a codespace name'),
  display_name: z.string().nullish(),
  environment_id: z.string().nullish(),
  owner: z.object({ id: z.number().int(), login: z.string() }),
  repository: z.object({ id: z.number().int(), full_name: z.string() }),
  machine: z.object({ name: z.string() }).nullish(),
  state: z.string(),
  created_at: z.string().optional(),
  git_status: GitStatusSchema,
  idle_timeout_minutes: z.number().int().nullish(),
  retention_period_minutes: z.number().int().nullish(),
  pending_operation: z.boolean().nullish(),
  last_known_stop_notice: z.string().nullish(),
});
export type Codespace = z.infer<typeof CodespaceSchema>;

export const CodespaceListSchema = z.object({ total_count: z.number().int(), codespaces: z.array(CodespaceSchema) });

export const MachinesSchema = z.object({
  total_count: z.number().int(),
  machines: z.array(z.object({ name: z.string(), display_name: z.string().optional(), cpus: z.number().optional(), memory_in_bytes: z.number().optional() })),
});

/** `{message, documentation_url}` (basic-error) or the 503 `{code, message}`; anything else is plain text. */
export const ErrorBodySchema = z.object({ message: z.string().optional(), code: z.string().optional(), documentation_url: z.string().optional() });

/** Bodies we do not read (start/stop/delete answers): anything JSON, or empty. */
export const AnySchema = z.unknown();
