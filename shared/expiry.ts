// When a profile is to be erased (SPEC §6): pure, shared by the profile worker (which announces
// schedule changes), the scheduler and the deletion worker (which re-checks before erasing).
import { createHash } from 'node:crypto';

export type ErasureReason = 'EXPIRED' | 'DEACTIVATION_EXPIRED';

export type ExpiringProfile = { profileType: string; status: string; expirationDate: string | null };

/**
 * The erasure a profile is scheduled for, or null: a deactivated profile at its deactivation's
 * expirationDate, a temporary one at its own.
 */
export function erasureDueOf(profile: ExpiringProfile): { dueAt: string; reason: ErasureReason } | null {
  if (!profile.expirationDate) return null;
  if (profile.status === 'D') return { dueAt: profile.expirationDate, reason: 'DEACTIVATION_EXPIRED' };
  if (profile.profileType === 'T') return { dueAt: profile.expirationDate, reason: 'EXPIRED' };
  return null;
}

/**
 * What the profile worker announces on the internal `customer-expirations-<env>` topic with every
 * change: ids and a date only, never personal data. `dueAt` null cancels.
 */
export type ScheduleRecord = { organisationId: number; customerNumber: string; version: number; dueAt: string | null };

/**
 * BullMQ job id of a customer's erasure: a hash of organisation and customer number, stable (one
 * job per customer, adding it twice is a no-op) and opaque (queue event streams carry job ids).
 */
export function erasureJobId(organisationId: number, customerNumber: string): string {
  return `erase-${createHash('sha256').update(`${organisationId}:${customerNumber}`).digest('hex').slice(0, 32)}`;
}
