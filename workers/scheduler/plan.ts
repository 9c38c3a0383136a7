// What the scheduler does with a schedule record: pure.
import type { ScheduleRecord } from '../../shared/expiry.ts';

export type Plan =
  /** Due within the horizon: a delayed job in Redis. */
  | { kind: 'schedule'; dueAt: number }
  /** No erasure (converted, merged, restored, deleted) or beyond the horizon: no job in Redis. */
  | { kind: 'cancel' };

/**
 * Redis holds a job only for what is due before `now + horizonMs`; later dates are loaded by the
 * reconciliation when they come within the horizon, so far-future expirations cost no Redis memory.
 */
export function planSchedule(record: Pick<ScheduleRecord, 'dueAt'>, now: number, horizonMs: number): Plan {
  if (record.dueAt === null) return { kind: 'cancel' };
  const dueAt = Date.parse(record.dueAt);
  return dueAt <= now + horizonMs ? { kind: 'schedule', dueAt } : { kind: 'cancel' };
}

/** The newest record per customer of a batch (records of one customer share a partition, in version order). */
export function latestPerCustomer(records: ScheduleRecord[]): ScheduleRecord[] {
  const latest = new Map<string, ScheduleRecord>();
  for (const record of records) {
    const key = `${record.organisationId}:${record.customerNumber}`;
    const seen = latest.get(key);
    if (!seen || seen.version <= record.version) latest.set(key, record);
  }
  return [...latest.values()];
}
