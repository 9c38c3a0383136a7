// Every collection and index the suite needs, created in one place, once, at start-up, before any
// worker starts working (how they are created safely: ./compat.ts).
import type { Db } from 'mongodb';
import { createMissingCollections, createMissingIndexes, inTurn } from './compat.ts';

const indexes = [
  // What is due within the horizon (the scheduler's reconciliation).
  { collection: 'profiles', key: { expirationDate: 1 }, name: 'expirationDate_1' },
  // The few profiles being merged (the profile worker's sweep, every minute): without it, a scan of
  // every profile. Sparse: only those profiles are in it (the local server indexes all of them).
  { collection: 'profiles', key: { mergingInto: 1 }, name: 'mergingInto_1', sparse: true },
  // A customer's claims (the erasure saga).
  { collection: 'emailClaims', key: { customerNumber: 1 }, name: 'customerNumber_1' },
  { collection: 'accountClaims', key: { customerNumber: 1 }, name: 'customerNumber_1' },
] as const;

/** Collections are created explicitly too, not by a first write. */
const collections = ['profiles', 'commands', 'relaySteps', 'emailClaims', 'accountClaims', 'preferenceDefinitions', 'counters', 'erasuresInProgress', 'erasureReceipts', 'claimSweeps'] as const;

export async function ensureIndexes(db: Db): Promise<void> {
  await createMissingCollections(db, collections);
  // The customer number counter, so that allocating never needs an upsert (start-up: no turn needed).
  await inTurn.insertOnce(db.collection<{ _id: string; next: number }>('counters'), [{ _id: 'customerNumber', next: 0 }]);
  await createMissingIndexes(db, indexes);
}
