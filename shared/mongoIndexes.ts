// Every collection and index the suite needs, created in one place, once, before any worker
// starts working.
//
// FerretDB v1 (SQLite) can deadlock when createIndexes runs while other operations are in flight
// (its metadata lock waits for a connection that an operation waiting for the lock holds; seen
// here under the benchmark). So indexes are created only when missing (listIndexes first), one
// after the other, at start-up; a running system never calls createIndexes.
import type { Db } from 'mongodb';

const indexes: { collection: string; key: Record<string, 1>; name: string }[] = [
  // What is due within the horizon (the scheduler's reconciliation).
  { collection: 'profiles', key: { expirationDate: 1 }, name: 'expirationDate_1' },
  // A customer's claims (the erasure saga).
  { collection: 'emailClaims', key: { customerNumber: 1 }, name: 'customerNumber_1' },
  { collection: 'accountClaims', key: { customerNumber: 1 }, name: 'customerNumber_1' },
];

/** Collections are created explicitly too: FerretDB creates a missing one under the same lock. */
const collections = ['profiles', 'commands', 'relaySteps', 'emailClaims', 'accountClaims', 'preferenceDefinitions', 'counters', 'erasuresInProgress', 'erasureReceipts', 'claimSweeps'];

export async function ensureIndexes(db: Db): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name));
  for (const name of collections) {
    if (existing.has(name)) continue;
    await db.createCollection(name).catch((error: unknown) => {
      if ((error as { codeName?: string }).codeName !== 'NamespaceExists') throw error;
    });
  }
  // The customer number counter, so that allocating never needs an upsert.
  await db
    .collection<{ _id: string; next: number }>('counters')
    .insertOne({ _id: 'customerNumber', next: 0 })
    .catch((error: unknown) => {
      if ((error as { code?: number }).code !== 11000) throw error;
    });
  for (const { collection, key, name } of indexes) {
    const existing = await db
      .collection(collection)
      .listIndexes()
      .toArray()
      .catch(() => [] as { name?: string }[]); // no collection yet
    if (existing.some((index) => index.name === name)) continue;
    await db.collection(collection).createIndex(key, { name });
  }
}
