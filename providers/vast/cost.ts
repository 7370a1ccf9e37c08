/**
 * Accrued cost of a Vast lease from the facts recorded at rent time (`dphTotal`, `createdAt` in
 * BoxIdentity.details). Pure, for `status`/`list` to show. An estimate: Vast bills storage from
 * creation and GPU time only while running, and a stopped instance still bills its disk.
 */
export interface AccruedCost {
  /** $/hour recorded when the offer was rented. */
  dphTotal: number;
  hours: number;
  /** dphTotal × hours, in $. */
  cost: number;
}

export function accruedCost(details: Record<string, unknown>, now: Date = new Date()): AccruedCost | undefined {
  const dph = details.dphTotal;
  const created = typeof details.createdAt === 'string' ? Date.parse(details.createdAt) : NaN;
  if (typeof dph !== 'number' || !Number.isFinite(dph) || dph < 0 || Number.isNaN(created)) return undefined;
  const hours = Math.max(0, now.getTime() - created) / 3_600_000;
  return { dphTotal: dph, hours, cost: dph * hours };
}

/** True when a budget is set and the accrued cost has reached it. */
export function budgetReached(details: Record<string, unknown>, maxCost: number | undefined, now: Date = new Date()): boolean {
  if (maxCost === undefined) return false;
  const c = accruedCost(details, now);
  return c !== undefined && c.cost >= maxCost;
}

/** `$0.42 (0.70 h at $0.600/h)` */
export function formatCost(c: AccruedCost): string {
  return `$${c.cost.toFixed(2)} (${c.hours.toFixed(2)} h at $${c.dphTotal.toFixed(3)}/h)`;
}
