// MongoDB adapter of the erasure saga: the receipt (kept for audit, no personal data) and every
// place a customer's data lives.
import type { Collection, Db } from 'mongodb';
import type { ErasureReason } from '../../shared/expiry.ts';
import { ensureIndexes } from '../../shared/mongoIndexes.ts';
import { serialWrites } from '../../shared/mongo.ts';
import type { ProfileDoc } from '../profile/store.ts';

/** Steps of the saga, in order; the receipt lists those done. */
export const erasureSteps = ['profile', 'claims', 'jobs', 'event'] as const;
export type ErasureStep = (typeof erasureSteps)[number];

export type ErasureReceipt = {
  _id: string;
  organisationId: number;
  customerNumber: string;
  reason: ErasureReason;
  /** When the erasure was due (the expirationDate). */
  requestedAt: string;
  startedAt: string;
  completedAt: string | null;
  steps: ErasureStep[];
  /** The profile's version when erased; its DELETED event is the next one. */
  lastVersion: number;
};

export const receiptKey = (organisationId: number, customerNumber: string) => `${organisationId}:${customerNumber}`;

export type ErasureStore = ReturnType<typeof makeErasureStore>;

export function makeErasureStore(db: Db) {
  const receipts: Collection<ErasureReceipt> = db.collection('erasureReceipts');
  const profiles: Collection<ProfileDoc> = db.collection('profiles');
  const write = serialWrites(db);
  const claimCollections = [db.collection<{ _id: string; customerNumber: string }>('emailClaims'), db.collection<{ _id: string; customerNumber: string }>('accountClaims')];

  return {
    receipts,
    ensureIndexes: () => ensureIndexes(db),
    findReceipt: (id: string) => receipts.findOne({ _id: id }),
    /** False when another worker started the same erasure first (then resume theirs). */
    async startReceipt(receipt: ErasureReceipt): Promise<boolean> {
      try {
        await write(() => receipts.insertOne(receipt));
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === 11000) return false;
        throw error;
      }
    },
    async stepDone(id: string, step: ErasureStep): Promise<void> {
      await write(() => receipts.updateOne({ _id: id }, { $addToSet: { steps: step } }));
    },
    async complete(id: string, at: string): Promise<void> {
      await write(() => receipts.updateOne({ _id: id }, { $set: { completedAt: at } }));
    },
    /** An erasure that turned out not to be due any more (restored at the last moment). */
    async abandon(id: string): Promise<void> {
      await write(() => receipts.deleteOne({ _id: id, completedAt: null }));
    },
    findProfile: (customerNumber: string) => profiles.findOne({ _id: customerNumber }),
    /** Deletes the profile (its personal fields, preference values, account links, addresses) if unchanged. */
    async deleteProfile(customerNumber: string, version: number): Promise<boolean> {
      return (await write(() => profiles.deleteOne({ _id: customerNumber, version, mergingInto: { $exists: false } }))).deletedCount === 1;
    },
    /** Frees the customer's email and account claims. */
    async deleteClaims(customerNumber: string): Promise<void> {
      for (const collection of claimCollections) await write(() => collection.deleteMany({ customerNumber }));
    },
  };
}
