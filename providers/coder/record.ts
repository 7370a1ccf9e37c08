/**
 * The worker-side record of a Coder lease, `<state>/leases/<leaseId>/coder.json`: the workspace
 * name we derived, when we sent the create (so an ambiguous create is recovered by name, and a
 * workspace of that name made before it is recognised as someone else's), the workspace id once
 * known, and which build and agent the pinned host key belongs to (the agent makes a new host key
 * at every start; a re-pin is allowed only when the build or agent id changed).
 *
 * It never holds a credential. It goes with the lease directory when the workspace is deleted.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { leaseDir } from '../common/state-dir.js';

export const CoderRecordSchema = z.object({
  version: z.literal(1),
  leaseId: z.string(),
  name: z.string(),
  scope: z.string(),
  /** ISO time just before the create request went out. */
  createSentAt: z.string().optional(),
  workspaceId: z.string().optional(),
  pin: z.object({ buildId: z.string(), agentId: z.string(), hostKeys: z.array(z.string()) }).optional(),
});
export type CoderRecord = z.infer<typeof CoderRecordSchema>;

const file = (leaseId: string) => join(leaseDir(leaseId), 'coder.json');

export function readRecord(leaseId: string): CoderRecord | undefined {
  const f = file(leaseId);
  if (!existsSync(f)) return undefined;
  try {
    const parsed = CoderRecordSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
    return parsed.success && parsed.data.leaseId === leaseId ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function writeRecord(rec: CoderRecord): void {
  const f = file(rec.leaseId);
  const tmp = `${f}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, f);
}
