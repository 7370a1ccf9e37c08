/**
 * The worker-side recovery record of a Vast lease, `<state>/leases/<leaseId>/vast.json`: which
 * offers one create tried, which one was rented, at what $/hour and when. Written before each rent
 * call, so an ambiguous create leaves a record without an instance id (providers.md 2.1 Rollback).
 *
 * It is a cache of facts for the BoxIdentity, never proof of ownership: the label, the instance id
 * and the account scope are checked against the live API before anything is mutated. It goes with
 * the lease directory when the box is deleted.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { leaseDir } from '../common/state-dir.js';

const AttemptSchema = z.object({
  offerId: z.number(),
  dphTotal: z.number(),
  machineId: z.number().optional(),
  at: z.string(),
  outcome: z.enum(['pending', 'rented', 'taken', 'ambiguous', 'failed']),
});

export const VastRecordSchema = z.object({
  version: z.literal(1),
  leaseId: z.string(),
  slug: z.string(),
  scope: z.string(),
  instanceId: z.number().optional(),
  offerId: z.number().optional(),
  dphTotal: z.number().optional(),
  machineId: z.number().optional(),
  createdAt: z.string().optional(),
  attempts: z.array(AttemptSchema),
});
export type VastRecord = z.infer<typeof VastRecordSchema>;
export type VastAttempt = z.infer<typeof AttemptSchema>;

const file = (leaseId: string) => join(leaseDir(leaseId), 'vast.json');

export function readRecord(leaseId: string): VastRecord | undefined {
  const f = file(leaseId);
  if (!existsSync(f)) return undefined;
  try {
    const parsed = VastRecordSchema.safeParse(JSON.parse(readFileSync(f, 'utf8')));
    return parsed.success && parsed.data.leaseId === leaseId ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function writeRecord(rec: VastRecord): void {
  const f = file(rec.leaseId);
  const tmp = `${f}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, f);
}
