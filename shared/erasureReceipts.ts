// Erasure receipts (`erasureReceipts`, SPEC §6): one per erased customer, kept for audit, without
// personal data. The deletion worker writes one when its saga completes (EXPIRED,
// DEACTIVATION_EXPIRED); the profile worker writes one when a merge removes a temporary profile
// (MERGED). A customer that has a receipt is never erased again.
import type { Db } from 'mongodb';
import type { ErasureReason } from './expiry.ts';
import { inTurn } from './mongo/compat.ts';

export type ReceiptReason = ErasureReason | 'MERGED';

/** `_id` of a customer's receipt (and of its erasure's start record). */
export const receiptKey = (organisationId: number, customerNumber: string) => `${organisationId}:${customerNumber}`;

/** What every receipt holds; the saga's add their start and steps (workers/deletion/store.ts). */
export type ReceiptBase = {
  _id: string;
  organisationId: number;
  customerNumber: string;
  reason: ReceiptReason;
  /** When the erasure was due (the expirationDate), or when the merge was decided. */
  requestedAt: string;
  completedAt: string;
  /** The profile's version when erased; its DELETED event is the next one. */
  lastVersion: number;
  /**
   * When the customer was created: where its records begin in the event topic (the verifier reads
   * from there). Absent in receipts of older versions of the suite.
   */
  customerSince?: string;
  /** What was done: the saga's steps, or `merge` (claims moved, DELETED event, profile removed). */
  steps: string[];
};

/**
 * The receipt of a temporary profile merged into a permanent one. Idempotent (a receipt already
 * there stays as it is). Called once the merge is durable (the permanent profile written with the
 * DELETED event) and before the temporary profile is removed, so that a merge finished after a
 * crash still writes it. Takes no write turn: the caller runs it in its connection's turn.
 */
export async function recordMergedReceipt(
  db: Db,
  merged: { organisationId: number; customerNumber: string; version: number; createdAt?: string },
  now: Date,
  /** When the merge was decided (its DELETED event's occurredAt). @defaultValue now */
  mergedAt?: string,
): Promise<void> {
  const completedAt = now.toISOString();
  const receipt: ReceiptBase = {
    _id: receiptKey(merged.organisationId, merged.customerNumber),
    organisationId: merged.organisationId,
    customerNumber: merged.customerNumber,
    reason: 'MERGED',
    requestedAt: mergedAt ?? completedAt,
    completedAt,
    lastVersion: merged.version,
    ...(merged.createdAt ? { customerSince: merged.createdAt } : {}),
    steps: ['merge'],
  };
  await inTurn.insertOnce(db.collection<ReceiptBase>('erasureReceipts'), [receipt]);
}
