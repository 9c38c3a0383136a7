// MongoDB adapter of the erasure saga: the record of an erasure in progress, the receipt written
// when it completes (kept for audit, no personal data), and every place a customer's data lives.
import type { Collection, Filter } from 'mongodb';
import type { ErasureReason } from '../../shared/expiry.ts';
import { findUpTo, groupedByIds, inTurn } from '../../shared/mongo/compat.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { makeOutboxStore } from '../../shared/outbox.ts';

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
  /** When the customer was created (see ReceiptBase). */
  customerSince?: string;
};

/** A completed erasure (`erasureReceipts`), kept for audit. */
export type ErasureReceipt = ErasureStart & { completedAt: string; steps: ErasureStep[] };

export { receiptKey } from '../../shared/erasureReceipts.ts';

export type ErasureStore = ReturnType<typeof makeErasureStore>;

/** Writes of one kind combined in one statement (erasures running at once). */
const perStatement = 500;

/**
 * A claim sweep (`claimSweeps`): the claims of an erased customer are looked for once more, by
 * customer number, once `at` has passed. Recorded in MongoDB by the saga before its receipt, so that
 * a process that stops (or crashes) before the sweep leaves it to the next one.
 */
export type ClaimSweep = { _id: string; customerNumber: string; at: Date };

export type ErasureStoreOptions = {
  /**
   * How long after an erasure its customer's claims are looked for again: longer than a command
   * that raced the erasure takes from claiming a value to its failed write.
   * @defaultValue 30_000
   */
  claimSweepDelayMs?: number;
  /** How often due claim sweeps are run. @defaultValue 30_000 */
  claimSweepIntervalMs?: number;
};

/** Claim sweeps run per query. */
const sweepChunk = 1_000;

export function makeErasureStore(mongo: Pick<Mongo, 'db' | 'writes'>, options: ErasureStoreOptions = {}) {
  const { db, writes } = mongo;
  const claimSweepDelayMs = options.claimSweepDelayMs ?? 30_000;
  const claimSweepIntervalMs = options.claimSweepIntervalMs ?? 30_000;
  const receipts: Collection<ErasureReceipt> = db.collection('erasureReceipts');
  const inProgress: Collection<ErasureStart> = db.collection('erasuresInProgress');
  const profiles: Collection<ProfileDoc> = db.collection('profiles');
  const outbox = makeOutboxStore(mongo);
  const emailClaims = db.collection<{ _id: string; customerNumber: string }>('emailClaims');
  const accountClaims = db.collection<{ _id: string; customerNumber: string }>('accountClaims');
  const claimCollections = [emailClaims, accountClaims];
  const claimSweeps: Collection<ClaimSweep> = db.collection('claimSweeps');

  // The sagas running at once share their writes: one statement per kind and turn (group commit).
  // No saga ever updates a document: only inserts and deletes (see shared/mongo/compat.ts on what
  // an update costs).
  const insertOnce = <T extends { _id: string }>(collection: Collection<T>) =>
    writes.grouped<T, boolean>(
      async (batch) => {
        // Already there: another worker started (or completed) the same erasure first.
        const existing = await inTurn.insertOnce(collection, batch);
        const inserted = new Set<string>();
        return batch.map(({ _id }) => {
          if (existing.has(_id) || inserted.has(_id)) return false;
          inserted.add(_id);
          return true;
        });
      },
      { max: perStatement },
    );
  const insertStart = insertOnce(inProgress);
  const insertReceipt = insertOnce(receipts);
  const insertSweep = insertOnce(claimSweeps);
  // One `deleteMany` per version among the turn's documents (few: most are erased at a low one),
  // each deleted only at the version its saga decided on. A bulk delete does not say which went:
  // when fewer did than asked, every caller hears "not deleted" and checks for itself.
  const deleteAtVersions = <T extends { _id: string }>(collection: Collection<T>, versionField: string, filter: Filter<T> = {}) =>
    writes.grouped<{ id: string; version: number }, boolean>(
      async (batch) => {
        const byVersion = Map.groupBy(batch, ({ version }) => version);
        const result = await inTurn.bulkWrite(
          collection,
          [...byVersion].map(([version, list]) => ({ deleteMany: { filter: { ...filter, _id: { $in: list.map(({ id }) => id) }, [versionField]: version } as Filter<T> } })),
        );
        return batch.map(() => result.deletedCount === batch.length);
      },
      { max: perStatement },
    );
  // A start record goes only at the version it was taken for: a saga holding an older one (a job
  // run twice after a lock stall) must not remove the one another saga took after it.
  const deleteStarts = deleteAtVersions(inProgress, 'lastVersion');
  // A profile being merged is removed by its merge.
  const deleteProfiles = deleteAtVersions(profiles, 'version', { mergingInto: { $exists: false } });
  // A claim goes if it still belongs to a customer erased in the turn (its profile is gone: the
  // claims step runs after the profile step), whichever of them it was listed for.
  const deleteClaimsById = (collection: typeof emailClaims) =>
    writes.grouped<{ ids: string[]; customerNumber: string }, void>(
      async (batch) => {
        await collection.deleteMany({ _id: { $in: [...new Set(batch.flatMap(({ ids }) => ids))] }, customerNumber: { $in: [...new Set(batch.map(({ customerNumber }) => customerNumber))] } });
        return batch.map(() => undefined);
      },
      { max: perStatement },
    );
  const deleteEmailClaims = deleteClaimsById(emailClaims);
  const deleteAccountClaims = deleteClaimsById(accountClaims);

  // The sagas' single-document reads, grouped too: one `_id: {$in}` query per kind at a time.
  const findByIds = <T extends { _id: string }>(collection: Collection<T>) => {
    const read = groupedByIds(collection, { maxCallers: perStatement });
    return async (id: string): Promise<T | null> => (await read([id])).get(id) ?? null;
  };
  const findReceipts = findByIds(receipts);
  const findStarts = findByIds(inProgress);
  const findProfiles = findByIds(profiles);

  /** Runs the claim sweeps that are due; returns how many ran. */
  const sweepDue = async (): Promise<number> => {
    let swept = 0;
    for (;;) {
      const due = await findUpTo(claimSweeps, { at: { $lte: new Date() } }, sweepChunk);
      if (due.length === 0) return swept;
      const customerNumbers = [...new Set(due.map((sweep) => sweep.customerNumber))];
      for (const collection of claimCollections) await writes.turn(() => collection.deleteMany({ customerNumber: { $in: customerNumbers } }));
      // Only once the claims are gone: a sweep interrupted here runs again.
      await writes.turn(() => claimSweeps.deleteMany({ _id: { $in: due.map((sweep) => sweep._id) } }));
      swept += due.length;
      if (due.length < sweepChunk) return swept;
    }
  };
  // One sweep at a time in this process (the timer's and a caller's).
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweepClaims = (): Promise<number> => {
    const run = sweeping.then(sweepDue, sweepDue);
    sweeping = run.catch(() => undefined);
    return run;
  };
  const sweeper = setInterval(() => {
    sweepClaims().catch(() => undefined); // the next tick tries again
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
    /** Whether the profile still has changes to relay: the outbox is asked. */
    hasUnrelayed: (profile: ProfileDoc): Promise<boolean> => outbox.hasUnrelayed(profile),
    /** Deletes the profile (its personal fields, preference values, account links, addresses) if unchanged. */
    deleteProfile: (customerNumber: string, version: number): Promise<boolean> => deleteProfiles({ id: customerNumber, version }),
    /**
     * Frees the customer's email and account claims: by key when the profile's values are known
     * (`claims`, read before it was deleted), else by customer number (a scan on a server that
     * does not use the index for it: see shared/mongo/compat.ts).
     */
    async deleteClaims(customerNumber: string, claims?: { emails: string[]; accounts: string[] }): Promise<void> {
      if (!claims) {
        for (const collection of claimCollections) await writes.turn(() => collection.deleteMany({ customerNumber }));
        return;
      }
      await Promise.all([
        claims.emails.length > 0 ? deleteEmailClaims({ ids: claims.emails, customerNumber }) : undefined,
        claims.accounts.length > 0 ? deleteAccountClaims({ ids: claims.accounts, customerNumber }) : undefined,
      ]);
    },
    /**
     * Records that the customer's claims are to be looked for once more, by customer number, after
     * {@link ErasureStoreOptions.claimSweepDelayMs} (durable: any process's sweeper runs it).
     */
    async sweepClaimsLater(start: Pick<ErasureStart, '_id' | 'customerNumber'>): Promise<void> {
      await insertSweep({ _id: start._id, customerNumber: start.customerNumber, at: new Date(Date.now() + claimSweepDelayMs) });
    },
    /** Runs the claim sweeps that are due now (the timer does it every interval); returns how many. */
    sweepClaims,
    /** Stops the timer (worker shutdown); sweeps not yet run stay recorded for the next process. */
    async close(): Promise<void> {
      clearInterval(sweeper);
      await sweeping;
    },
  };
}
