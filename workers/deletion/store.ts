// MongoDB adapter of the erasure saga: the record of an erasure in progress, the receipt written
// when it completes (kept for audit, no personal data), and every place a customer's data lives.
import type { Collection, Db, Filter } from 'mongodb';
import type { ErasureReason } from '../../shared/expiry.ts';
import { ensureIndexes } from '../../shared/mongoIndexes.ts';
import { byIds, serialWrites } from '../../shared/mongo.ts';
import type { ProfileDoc } from '../profile/store.ts';
import { combine, oneAtATime } from '../../shared/combine.ts';

/** Steps of the saga, in order; a receipt lists them all. */
export const erasureSteps = ['profile', 'claims', 'jobs', 'event'] as const;
export type ErasureStep = (typeof erasureSteps)[number];

/** An erasure started and not completed (`erasuresInProgress`): what to resume it with. */
export type ErasureStart = {
  _id: string;
  organisationId: number;
  customerNumber: string;
  reason: ErasureReason;
  /** When the erasure was due (the expirationDate). */
  requestedAt: string;
  startedAt: string;
  /** The profile's version when erased; its DELETED event is the next one. */
  lastVersion: number;
};

/** A completed erasure (`erasureReceipts`), kept for audit. */
export type ErasureReceipt = ErasureStart & { completedAt: string; steps: ErasureStep[] };

export const receiptKey = (organisationId: number, customerNumber: string) => `${organisationId}:${customerNumber}`;

export type ErasureStore = ReturnType<typeof makeErasureStore>;

/** Statements per bulk write (erasures combined in one turn). */
const bulkChunk = 500;

/** How often the claims of recently erased customers are looked for again (see `sweepClaimsLater`). */
const claimSweepIntervalMs = 30_000;

export function makeErasureStore(db: Db) {
  const receipts: Collection<ErasureReceipt> = db.collection('erasureReceipts');
  const inProgress: Collection<ErasureStart> = db.collection('erasuresInProgress');
  const profiles: Collection<ProfileDoc> = db.collection('profiles');
  const relaySteps: Collection<{ _id: string }> = db.collection('relaySteps');
  const write = serialWrites(db);
  const emailClaims = db.collection<{ _id: string; customerNumber: string }>('emailClaims');
  const accountClaims = db.collection<{ _id: string; customerNumber: string }>('accountClaims');
  const claimCollections = [emailClaims, accountClaims];

  // The sagas running at once share their writes: one statement per kind and turn (group commit).
  // No saga ever updates a document: FerretDB pays per updated document what several inserts
  // cost, and per statement what a bulk of inserts or an `_id: {$in}` delete costs.
  const insertIgnoringDuplicates = <T extends { _id: string }>(collection: Collection<T>) =>
    combine<T, boolean>(
      async (batch) => {
        try {
          await collection.insertMany(batch as never[], { ordered: false });
          return batch.map(() => true);
        } catch (error) {
          // Already there: another worker started (or completed) the same erasure first.
          const writeErrors = [(error as { writeErrors?: unknown }).writeErrors ?? []].flat() as { index: number; code?: number }[];
          if (writeErrors.length === 0 || writeErrors.some((writeError) => writeError.code !== 11000)) throw error;
          const duplicates = new Set(writeErrors.map((writeError) => writeError.index));
          return batch.map((_, index) => !duplicates.has(index));
        }
      },
      { max: bulkChunk, turn: write },
    );
  const insertStart = insertIgnoringDuplicates(inProgress);
  const insertReceipt = insertIgnoringDuplicates(receipts);
  // One `deleteMany` per version among the turn's documents (few: most are erased at a low one),
  // each deleted only at the version its saga decided on. A bulk delete does not say which went:
  // when fewer did than asked, every caller hears "not deleted" and checks for itself.
  const deleteAtVersions = <T extends { _id: string }>(collection: Collection<T>, versionField: string, filter: Filter<T> = {}) =>
    combine<{ id: string; version: number }, boolean>(
      async (batch) => {
        const byVersion = Map.groupBy(batch, ({ version }) => version);
        const result = await collection.bulkWrite(
          [...byVersion].map(([version, list]) => ({ deleteMany: { filter: { ...filter, _id: { $in: list.map(({ id }) => id) }, [versionField]: version } as Filter<T> } })),
          { ordered: false },
        );
        return batch.map(() => result.deletedCount === batch.length);
      },
      { max: bulkChunk, turn: write },
    );
  // A start record goes only at the version it was taken for: a saga holding an older one (a job
  // run twice after a lock stall) must not remove the one another saga took after it.
  const deleteStarts = deleteAtVersions(inProgress, 'lastVersion');
  // A profile being merged is removed by its merge.
  const deleteProfiles = deleteAtVersions(profiles, 'version', { mergingInto: { $exists: false } });
  // A claim goes if it still belongs to a customer erased in the turn (its profile is gone: the
  // claims step runs after the profile step), whichever of them it was listed for.
  const deleteClaimsById = (collection: typeof emailClaims) =>
    combine<{ ids: string[]; customerNumber: string }, void>(
      async (batch) => {
        await collection.deleteMany({ _id: { $in: [...new Set(batch.flatMap(({ ids }) => ids))] }, customerNumber: { $in: [...new Set(batch.map(({ customerNumber }) => customerNumber))] } });
        return batch.map(() => undefined);
      },
      { max: bulkChunk, turn: write },
    );
  const deleteEmailClaims = deleteClaimsById(emailClaims);
  const deleteAccountClaims = deleteClaimsById(accountClaims);

  // The sagas' single-document reads, grouped too: one `_id: {$in}` query per kind at a time.
  const findByIds = <T extends { _id: string }>(collection: Collection<T>) =>
    combine<string, T | null>(
      async (ids) => {
        const found = await byIds(collection, ids);
        return ids.map((id) => found.get(id) ?? null);
      },
      { max: bulkChunk, turn: oneAtATime() },
    );
  const findReceipts = findByIds(receipts);
  const findStarts = findByIds(inProgress);
  const findProfiles = findByIds(profiles);

  // Customers erased lately whose claims are looked for once more, by customer number.
  const toSweep = new Set<string>();
  const sweep = async () => {
    if (toSweep.size === 0) return;
    const customerNumbers = [...toSweep];
    toSweep.clear();
    for (const collection of claimCollections) await write(() => collection.deleteMany({ customerNumber: { $in: customerNumbers } }));
  };
  let sweeping: Promise<void> = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = sweeping.then(sweep).catch(() => undefined);
  }, claimSweepIntervalMs);
  sweeper.unref();

  return {
    ensureIndexes: () => ensureIndexes(db),
    /** The receipt of a completed erasure. */
    findReceipt: (id: string): Promise<ErasureReceipt | null> => findReceipts(id),
    /** An erasure started and not completed. */
    findStart: (id: string): Promise<ErasureStart | null> => findStarts(id),
    /** False when another worker started the same erasure first (then resume theirs). */
    start: (start: ErasureStart): Promise<boolean> => insertStart(start),
    /** Completion: the receipt, then the start record goes. */
    async complete(start: ErasureStart, completedAt: string): Promise<void> {
      await insertReceipt({ ...start, completedAt, steps: [...erasureSteps] }); // false: completed by another worker meanwhile
      await deleteStarts({ id: start._id, version: start.lastVersion });
    },
    /** Drops a start record (an erasure no longer due, or one completed before a crash). */
    async abandon(start: ErasureStart): Promise<void> {
      await deleteStarts({ id: start._id, version: start.lastVersion });
    },
    findProfile: (customerNumber: string): Promise<ProfileDoc | null> => findProfiles(customerNumber),
    /** Whether the profile still has changes to relay (entries of a relay step not yet closed). */
    async hasUnrelayed(profile: ProfileDoc): Promise<boolean> {
      const steps = [...new Set(profile.pending.map((entry) => entry.step))];
      if (steps.length === 0) return false;
      return (await relaySteps.find({ _id: { $in: steps } }, { projection: { _id: 1 }, limit: 1 }).toArray()).length > 0;
    },
    /** Deletes the profile (its personal fields, preference values, account links, addresses) if unchanged. */
    deleteProfile: (customerNumber: string, version: number): Promise<boolean> => deleteProfiles({ id: customerNumber, version }),
    /**
     * Frees the customer's email and account claims: by key when the profile's values are known
     * (`claims`, read before it was deleted), else by customer number (a scan where the server
     * does not use the index, as FerretDB v1).
     */
    async deleteClaims(customerNumber: string, claims?: { emails: string[]; accounts: string[] }): Promise<void> {
      if (!claims) {
        for (const collection of claimCollections) await write(() => collection.deleteMany({ customerNumber }));
        return;
      }
      await Promise.all([
        claims.emails.length > 0 ? deleteEmailClaims({ ids: claims.emails, customerNumber }) : undefined,
        claims.accounts.length > 0 ? deleteAccountClaims({ ids: claims.accounts, customerNumber }) : undefined,
      ]);
    },
    /**
     * Looks for the customer's claims once more within {@link claimSweepIntervalMs}, by customer
     * number, together with every other customer erased meanwhile (one query per collection).
     */
    sweepClaimsLater(customerNumber: string): void {
      toSweep.add(customerNumber);
    },
    /** Runs the pending sweep now and stops the timer (worker shutdown). */
    async close(): Promise<void> {
      clearInterval(sweeper);
      await (sweeping = sweeping.then(sweep).catch(() => undefined));
    },
  };
}
