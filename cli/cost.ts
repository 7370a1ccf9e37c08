/**
 * Accrued cost of a lease from the rate its provider quoted at create (`BoxIdentity.costPerHour`)
 * and the time since the box was created, until it was released. An estimate: providers bill by
 * their own rules (Vast bills storage while stopped, for example).
 */
export interface CostFacts {
  costPerHour?: number;
  /** ISO time the box was created. */
  boxCreatedAt?: string;
  /** ISO time the lease released the box (cost stops accruing there). */
  releasedAt?: string;
  maxCost?: number;
}

export interface AccruedCost {
  perHour: number;
  hours: number;
  /** perHour × hours, in US$. */
  cost: number;
  budget?: number;
}

export function accruedCost(f: CostFacts, now: Date = new Date()): AccruedCost | undefined {
  const created = f.boxCreatedAt ? Date.parse(f.boxCreatedAt) : NaN;
  if (typeof f.costPerHour !== 'number' || !(f.costPerHour > 0) || Number.isNaN(created)) return undefined;
  const end = f.releasedAt ? Date.parse(f.releasedAt) : now.getTime();
  const hours = Math.max(0, (Number.isNaN(end) ? now.getTime() : end) - created) / 3_600_000;
  return { perHour: f.costPerHour, hours, cost: f.costPerHour * hours, budget: f.maxCost };
}

/** `$0.42 (0.70 h at $0.600/h; budget $5.00)` */
export function formatCost(c: AccruedCost): string {
  return `$${c.cost.toFixed(2)} (${c.hours.toFixed(2)} h at $${c.perHour.toFixed(3)}/h${c.budget !== undefined ? `; budget $${c.budget.toFixed(2)}` : ''})`;
}
