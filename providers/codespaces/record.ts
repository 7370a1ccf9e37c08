/**
 * Naming and the worker-side record of a Codespaces lease.
 *
 * GitHub has no labels: the only hint on the codespace is `display_name` (≤48 chars, editable by
 * the user), so it is a discovery hint and never proof. The proof is the lease record: codespace
 * name, id, environment id, owner id and repository id, kept in the BoxIdentity (workflow state)
 * and in `<state>/leases/<leaseId>/codespaces.json` on the worker, written *before* the create
 * call (pending, with a nonce) so an ambiguous create leaves a trace. Codespaces without a record
 * are never listed or touched.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ensureStateSubdir, leaseDir } from '../common/state-dir.js';

export const DISPLAY_PREFIX = 'dbx';
export const DISPLAY_MAX = 48;

/** `dbx-<slug>-<lease hash>`: deterministic from the lease id, ≤48 chars; the slug is truncated first. */
export function displayNameFor(leaseId: string, slug: string): string {
  const hash = createHash('sha256').update(leaseId).digest('hex').slice(0, 12);
  const room = DISPLAY_MAX - DISPLAY_PREFIX.length - hash.length - 2;
  const s = slug.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, room).replace(/-+$/, '') || 'lease';
  return `${DISPLAY_PREFIX}-${s}-${hash}`;
}

/** True when `display` is the name this lease would use, whatever slug it carries. */
export function displayNames(display: string | null | undefined, leaseId: string): boolean {
  if (!display) return false;
  const hash = createHash('sha256').update(leaseId).digest('hex').slice(0, 12);
  return display.startsWith(`${DISPLAY_PREFIX}-`) && display.endsWith(`-${hash}`) && display.length <= DISPLAY_MAX;
}

export const CodespacesRecordSchema = z.object({
  version: z.literal(1),
  leaseId: z.string(),
  slug: z.string(),
  scope: z.string(),
  repo: z.string(),
  displayName: z.string(),
  nonce: z.string(),
  state: z.enum(['pre-create', 'created', 'ambiguous']),
  at: z.string(),
  name: z.string().optional(),
  id: z.number().optional(),
  environmentId: z.string().optional(),
  ownerId: z.number().optional(),
  repositoryId: z.number().optional(),
});
export type CodespacesRecord = z.infer<typeof CodespacesRecordSchema>;

const FILE = 'codespaces.json';
const file = (leaseId: string) => join(leaseDir(leaseId), FILE);

export function readRecord(leaseId: string): CodespacesRecord | undefined {
  const f = file(leaseId);
  if (!existsSync(f)) return undefined;
  try {
    const p = CodespacesRecordSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
    return p.success && p.data.leaseId === leaseId ? p.data : undefined;
  } catch {
    return undefined;
  }
}

export function writeRecord(rec: CodespacesRecord): void {
  const f = file(rec.leaseId);
  const tmp = `${f}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, f);
}

export function removeRecord(leaseId: string): void {
  rmSync(file(leaseId), { force: true });
}

/** Every record on this worker (listOwned and doctor read these; nothing else is ours). */
export function allRecords(): CodespacesRecord[] {
  const dir = ensureStateSubdir('leases');
  const out: CodespacesRecord[] = [];
  for (const d of readdirSync(dir)) {
    if (!existsSync(join(dir, d, FILE))) continue;
    const r = readRecord(d);
    if (r) out.push(r);
  }
  return out;
}
