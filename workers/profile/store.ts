// MongoDB adapter of the profile worker. Written for a server without multi-document
// transactions (see shared/mongo/compat.ts): every change is one atomic document write, guarded by the version it
// was decided on; what must leave the process (events, results) is kept inside that same write
// (`pending`) until it is relayed. Lookups go by _id, which every MongoDB-wire server serves well.
import type { AnyBulkWriteOperation, Collection, Document, Filter } from 'mongodb';
import { MongoBulkWriteError, MongoServerError } from 'mongodb';
import type { ClaimDoc, ClaimKey } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { recordMergedReceipt } from '../../shared/erasureReceipts.ts';
import { bulkChunk, byIds, findUpTo, groupedByIds, inTurn } from '../../shared/mongo/compat.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';
import type { CheckedResults } from '../../shared/outbox.ts';
import type { CommandResult, PreferenceDefinition } from './model.ts';

/** What is known of a command: the number reserved for a creation, and its result once durable. */
export type CommandDoc = { _id: string; customerNumber?: string; result?: CommandResult; resultKey?: string };

/**
 * In the `commands` collection a command has up to two documents, each only ever inserted: its
 * result under its key, and, for a creation, the number reserved for it under `n:<key>`. (Inserts
 * are several times cheaper than updates on the local server, and a result needs no read-modify-write.)
 */
export const reservationKey = (key: string) => `n:${key}`;
type StoredCommand = { _id: string; customerNumber?: string; result?: CommandResult; resultKey?: string; at: Date };

/**
 * A claim whose owner does not hold the value counts as free only after this long: younger, its
 * owner's write may still be on its way in another process.
 */
export const claimLeaseMs = 60_000;

type DefinitionDoc = PreferenceDefinition & { _id: string };
/** The old counter (`next`: numbers handed out) and the claimed blocks (`at`: when). */
type CounterDoc = { _id: string; next?: number; at?: Date };

/** Customer numbers per block: one round trip hands out this many. */
const numberBlockSize = 1_000;
const maxBlock = 9_999_999;
/** A block's document: its index zero-padded, so that the last one sorts last. */
const blockId = (index: number) => `customerNumberBlock:${String(index).padStart(String(maxBlock).length, '0')}`;
const blockIndexOf = (id: string) => Number(id.slice(id.indexOf(':') + 1));

/** First customer number; numbers are never reused. */
const customerNumberBase = 1_000_000;

export const definitionKey = (organisationId: number, key: string) => `${organisationId}:${key}`;

/** A write lost a race with another process (version moved on, unique value claimed): decide again. */
export class WriteConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteConflict';
  }
}

const isDuplicateKey = (error: unknown) =>
  (error instanceof MongoServerError && error.code === 11000) ||
  (error instanceof MongoBulkWriteError && [error.writeErrors].flat().some((writeError) => writeError.code === 11000));

export type ProfileStore = ReturnType<typeof makeProfileStore>;

export type ProfileStoreOptions = {
  /**
   * Claim keys: a keyed hash of the value (shared/claims.ts `makeClaimKey(config.claimKeySecret)`),
   * so the claim collections never hold an email address or an account id, even hashed plainly.
   */
  claimKey: ClaimKey;
};

export function makeProfileStore(mongo: Pick<Mongo, 'db' | 'writes'>, options: ProfileStoreOptions) {
  const { db } = mongo;
  const { claimKey } = options;
  const profiles: Collection<ProfileDoc> = db.collection('profiles');
  const commands: Collection<StoredCommand> = db.collection('commands');
  const emails: Collection<ClaimDoc> = db.collection('emailClaims');
  const accounts: Collection<ClaimDoc> = db.collection('accountClaims');
  const definitions: Collection<DefinitionDoc> = db.collection('preferenceDefinitions');
  const counters: Collection<CounterDoc> = db.collection('counters');
  const write = mongo.writes.turn;
  /**
   * Group commit: the statements of the steps in flight at once (one per partition) go out together,
   * one bulk write per kind instead of one per step — fewer statements for the server, fewer turns.
   */
  const perGroup = 64;
  /**
   * Inserts and guarded replaces of several callers in one bulk write; each caller learns whether
   * every one of its writes went through. An insert fails on a duplicate key (its index in the bulk
   * says whose); a replace fails when its filter matched nothing, which the server reports only as
   * a total: when that falls short the documents are read back, and `wentThrough` says whose.
   */
  const guardedWrites = <T extends { _id: string }>(collection: Collection<T>, wentThrough: (written: T, stored: T | undefined) => boolean) =>
    mongo.writes.grouped<{ inserts: T[]; replaces: { filter: Filter<T>; doc: T }[] }, boolean>(
      async (batch) => {
        const operations = batch.flatMap(({ inserts, replaces }, owner) => [
          ...inserts.map((doc) => ({ owner, doc, replace: false, operation: { insertOne: { document: doc } } as AnyBulkWriteOperation<T> })),
          ...replaces.map(({ filter, doc }) => ({ owner, doc, replace: true, operation: { replaceOne: { filter, replacement: doc } } as AnyBulkWriteOperation<T> })),
        ]);
        const failed = new Set<number>();
        let matched = 0;
        let uncertain = false;
        for (let start = 0; start < operations.length; start += bulkChunk) {
          const chunk = operations.slice(start, start + bulkChunk);
          try {
            matched += (await collection.bulkWrite(chunk.map(({ operation }) => operation), { ordered: false })).matchedCount;
          } catch (error) {
            if (!isDuplicateKey(error) || !(error instanceof MongoBulkWriteError) || [error.writeErrors].flat().some((writeError) => writeError.code !== 11000)) throw error;
            for (const writeError of [error.writeErrors].flat()) failed.add(chunk[writeError.index]!.owner);
            uncertain = true;
          }
        }
        const replaced = operations.filter((entry) => entry.replace);
        if (uncertain || matched < replaced.length) {
          const stored = await byIds(collection, replaced.map(({ doc }) => doc._id));
          for (const { owner, doc } of replaced) if (!wentThrough(doc, stored.get(doc._id))) failed.add(owner);
        }
        return batch.map((_, owner) => !failed.has(owner));
      },
      { max: perGroup },
    );
  /** Inserts of several callers in one statement; each gets the ids of its documents stored already (or by an earlier caller of the group). */
  const groupedInserts = <T extends { _id: string }>(collection: Collection<T>) =>
    mongo.writes.grouped<T[], Set<string>>(
      async (batch) => {
        const existing = await inTurn.insertOnce(collection, batch.flat());
        const earlier = new Set<string>();
        return batch.map((docs) => {
          const mine = new Set(docs.filter(({ _id }) => existing.has(_id) || earlier.has(_id)).map(({ _id }) => _id));
          for (const { _id } of docs) earlier.add(_id);
          return mine;
        });
      },
      { max: perGroup },
    );
  const groupedBulk = <T extends Document>(collection: Collection<T>) =>
    mongo.writes.grouped<AnyBulkWriteOperation<T>[], void>(
      async (batch) => {
        await inTurn.bulkWrite(collection, batch.flat());
        return batch.map(() => undefined);
      },
      { max: perGroup },
    );
  // A profile write went through when the stored document is the one written: same version, and
  // its last entry this write's (another decision, even of the same command, has another body: its
  // times and trace ids).
  const writeProfileGroup = guardedWrites(profiles, (written, stored) => stored !== undefined && stored.version === written.version && stored.pending.at(-1)?.body === written.pending.at(-1)?.body);
  // The steps of the partitions handled at once read together (one query per collection at a time).
  const readProfiles = groupedByIds(profiles);
  const readCommands = groupedByIds(commands);
  const readDefinitions = groupedByIds(definitions);
  const insertResults = groupedInserts(commands);
  const insertReservations = groupedInserts(commands);
  /** The block to try first at the next claim (the one after the last this process saw taken). */
  let nextBlock: number | null = null;
  /**
   * Claims the next free block of customer numbers by inserting its document: an insert of a unique
   * `_id` is atomic on every server, where an `$inc` is not on the local one (see compat.ts). A block
   * claimed by another process first is skipped. The first claim starts after the last block
   * claimed and after the numbers the old counter (`customerNumber`, an `$inc`) handed out.
   */
  async function claimBlock(): Promise<number> {
    if (nextBlock === null) {
      const [last] = await counters.find({ _id: { $gte: blockId(0), $lte: blockId(maxBlock) } }, { sort: { _id: -1 }, limit: 1, batchSize: 2 }).toArray();
      const legacy = await counters.findOne({ _id: 'customerNumber' });
      nextBlock = Math.max(last ? blockIndexOf(last._id) + 1 : 0, Math.ceil((legacy?.next ?? 0) / numberBlockSize));
    }
    for (;;) {
      const index = nextBlock++;
      const taken = await mongo.writes.insertOnce(counters, [{ _id: blockId(index), at: new Date() }]);
      if (taken.size === 0) return index;
    }
  }
  let block = { next: 0, end: 0 };

  const claimsOf = (collection: Collection<ClaimDoc>) => {
    // Taken: the stored claim names the profile it was taken for.
    const takeGroup = guardedWrites(collection, (written, stored) => stored?.customerNumber === written.customerNumber);
    const releaseGroup = groupedBulk(collection);
    return {
    find: groupedByIds(collection),
    /**
     * Takes values for profiles: a new claim, or one taken over from a stale owner (a profile that
     * no longer holds the value). Throws {@link WriteConflict} when another process got there first.
     */
    async take(claims: { _id: string; customerNumber: string; staleOwner: string | null }[]): Promise<void> {
      if (claims.length === 0) return;
      const at = new Date();
      const inserts = claims.filter((claim) => claim.staleOwner === null).map(({ _id, customerNumber }) => ({ _id, customerNumber, at }));
      const replaces = claims.filter((claim) => claim.staleOwner !== null).map(({ _id, customerNumber, staleOwner }) => ({ filter: { _id, customerNumber: staleOwner! }, doc: { _id, customerNumber, at } }));
      if (!(await takeGroup({ inserts, replaces }))) throw new WriteConflict('a value was claimed by another process');
    },
    /** Gives values back, only where the profile still holds the claim. */
    async release(claims: ClaimDoc[]): Promise<void> {
      if (claims.length > 0) await releaseGroup(claims.map((claim) => ({ deleteOne: { filter: { _id: claim._id, customerNumber: claim.customerNumber } } })));
    },
  };
  };

  return {
    profiles,
    /** The claim key of a value (emails lower-cased by the caller). */
    claimKey,
    emails: claimsOf(emails),
    accounts: claimsOf(accounts),

    /** Everything else is looked up by _id. */
    ensureIndexes: () => ensureIndexes(db),

    /**
     * Each command's reservation and result, by command key. `results`: only results are looked
     * for (the marks of pending entries: see shared/outbox.ts).
     */
    async findCommands(ids: Iterable<string>, only?: 'results'): Promise<Map<string, CommandDoc>> {
      const keys = [...new Set(ids)];
      const docs = await readCommands(only === 'results' ? keys : keys.flatMap((key) => [key, reservationKey(key)]));
      const found = new Map<string, CommandDoc>();
      for (const key of keys) {
        const result = docs.get(key);
        const reservation = docs.get(reservationKey(key));
        if (!result && !reservation) continue;
        found.set(key, {
          _id: key,
          ...(reservation?.customerNumber !== undefined ? { customerNumber: reservation.customerNumber } : {}),
          ...(result?.result !== undefined ? { result: result.result, resultKey: result.resultKey ?? '' } : {}),
        });
      }
      return found;
    },
    findProfiles: readProfiles,

    async findDefinitions(ids: Iterable<string>): Promise<Map<string, PreferenceDefinition>> {
      const docs = await readDefinitions(ids);
      return new Map([...docs].map(([id, { _id, ...definition }]) => [id, definition]));
    },

    /** Customer numbers from blocks of {@link numberBlockSize}, one round trip per block (see `claimBlock`). */
    async allocateNumbers(count: number): Promise<string[]> {
      const numbers: string[] = [];
      while (numbers.length < count) {
        if (block.next >= block.end) {
          const index = await claimBlock();
          block = { next: index * numberBlockSize, end: (index + 1) * numberBlockSize };
        }
        numbers.push(String(customerNumberBase + block.next++));
      }
      return numbers;
    },

    /** Records the number chosen for each creation before the profile exists, so a redelivery reuses it. */
    async reserveCreations(reservations: { _id: string; customerNumber: string; resultKey: string }[]): Promise<void> {
      if (reservations.length === 0) return;
      const at = new Date();
      const taken = await insertReservations(reservations.map(({ _id, customerNumber, resultKey }) => ({ _id: reservationKey(_id), customerNumber, resultKey, at })));
      if (taken.size > 0) throw new WriteConflict('a creation was reserved by another process');
    },

    /**
     * Inserts new profiles and replaces changed ones where their version is still the one decided
     * on. Throws {@link WriteConflict} if any write lost a race.
     */
    async writeProfiles(writes: { doc: ProfileDoc; expectedVersion: number | null }[]): Promise<void> {
      if (writes.length === 0) return;
      const inserts = writes.filter((write) => write.expectedVersion === null).map(({ doc }) => doc);
      const replaces = writes.filter((write) => write.expectedVersion !== null).map(({ doc, expectedVersion }) => ({ filter: { _id: doc._id, version: expectedVersion! }, doc }));
      if (!(await writeProfileGroup({ inserts, replaces }))) throw new WriteConflict('a profile changed, or was created, while the step was decided');
    },

    /** Redefining replaces (insert, or replace without upsert: see putResults). */
    async putDefinitions(list: PreferenceDefinition[]): Promise<void> {
      for (const definition of list) {
        const _id = definitionKey(definition.organisationId, definition.key);
        const replaced = await write(() => definitions.replaceOne({ _id }, { ...definition }));
        if (replaced.matchedCount === 0) {
          await write(() => definitions.insertOne({ _id, ...definition })).catch(async (error: unknown) => {
            if (!isDuplicateKey(error)) throw error;
            await write(() => definitions.replaceOne({ _id }, { ...definition })); // defined meanwhile elsewhere
          });
        }
      }
    },

    /**
     * Makes results durable, so that a redelivered command gets the same one again. A stored result
     * is never replaced: returns, by id, the result stored for each — stored already (by an earlier
     * attempt, or by another process deciding the same command at the same time, e.g. during a
     * rebalance) or now — which is the one to send. Inserts only, after a read of which are stored
     * already (`checked`: the caller's read; see `insertOnce` in shared/mongo/compat.ts).
     */
    async putResults(results: { _id: string; result: CommandResult; resultKey: string }[], checked?: CheckedResults): Promise<Map<string, CommandResult>> {
      const storedResults = (docs: Map<string, CommandDoc>) => new Map([...docs].flatMap(([id, doc]) => (doc.result ? [[id, doc.result] as const] : [])));
      if (results.length === 0) return new Map();
      const at = new Date();
      // Read first, but not what the caller looked for already.
      const unchecked = results.filter(({ _id }) => !checked?.ids.has(_id)).map(({ _id }) => _id);
      const known = unchecked.length > 0 ? storedResults(await readCommands(unchecked)) : new Map<string, CommandResult>();
      for (const { _id } of results) if (checked?.results.has(_id)) known.set(_id, checked.results.get(_id)!);
      // The first of a command's results in this call is the one stored (and sent for every copy).
      const fresh: typeof results = [];
      for (const entry of results) {
        if (known.has(entry._id)) continue;
        known.set(entry._id, entry.result);
        fresh.push(entry);
      }
      if (fresh.length === 0) return known;
      // Stored meanwhile by another process: theirs stands, and is the one to send.
      const raced = await insertResults(fresh.map(({ _id, result, resultKey }) => ({ _id, result, resultKey, at })));
      if (raced.size > 0) for (const [id, result] of storedResults(await readCommands(raced))) known.set(id, result);
      return known;
    },

    /**
     * Stores the results of entries that went out (the mark that they did: see shared/outbox.ts),
     * where none is stored yet. `manyStored`: most may be, looked up first.
     */
    async recordResults(results: { _id: string; result: CommandResult; resultKey: string }[], options: { manyStored?: boolean } = {}): Promise<void> {
      if (results.length === 0) return;
      const at = new Date();
      const docs = results.map(({ _id, result, resultKey }) => ({ _id, result, resultKey, at }));
      if (options.manyStored) await mongo.writes.insertOnce(commands, docs, { manyExisting: true });
      else await insertResults(docs);
    },

    /** Marks a temporary profile as being merged (version-guarded, no new version: it gets no event of its own). */
    async markMerging(customerNumber: string, version: number, permanentNumber: string): Promise<void> {
      const result = await write(() => profiles.updateOne({ _id: customerNumber, version, mergingInto: { $exists: false } }, { $set: { mergingInto: permanentNumber } }));
      if (result.matchedCount === 0) throw new WriteConflict('the temporary profile changed while its merge was decided');
    },

    /** Clears the mark a refused merge into `permanentNumber` left, unless the permanent profile has the temporary one after all. */
    async clearRefusedMerge(temporaryNumber: string, permanentNumber: string): Promise<void> {
      const docs = await byIds(profiles, [temporaryNumber, permanentNumber]);
      const temporary = docs.get(temporaryNumber);
      if (temporary?.mergingInto !== permanentNumber || docs.get(permanentNumber)?.relatedCustomerNumbers.includes(temporaryNumber)) return;
      await this.unmarkMerging(temporaryNumber, temporary.version, permanentNumber);
    },

    /** Clears the mark of a merge that was refused after all (version-guarded, like the mark). */
    async unmarkMerging(customerNumber: string, version: number, permanentNumber: string): Promise<void> {
      const result = await write(() => profiles.updateOne({ _id: customerNumber, version, mergingInto: permanentNumber }, { $unset: { mergingInto: '' } }));
      if (result.matchedCount === 0) throw new WriteConflict('the temporary profile changed while its merge was decided');
    },

    /**
     * The end of a merge, idempotent: the temporary profile's account claims move to the permanent
     * one, its email claim is freed, and it is removed — once the permanent profile has it.
     */
    async finishMerge(temporary: ProfileDoc, permanentNumber: string): Promise<void> {
      const permanent = await profiles.findOne({ _id: permanentNumber }, { projection: { relatedCustomerNumbers: 1 } });
      if (!permanent?.relatedCustomerNumbers.includes(temporary._id)) return;
      const org = temporary.organisationId;
      const claimsOfAccounts = temporary.customerAccounts.map((account) => claimKey(org, account));
      if (claimsOfAccounts.length > 0) await write(() => accounts.updateMany({ _id: { $in: claimsOfAccounts }, customerNumber: temporary._id }, { $set: { customerNumber: permanentNumber } }));
      if (temporary.email) await write(() => emails.deleteOne({ _id: claimKey(org, temporary.email!.toLowerCase()), customerNumber: temporary._id }));
      await write(() => recordMergedReceipt(db, { organisationId: org, customerNumber: temporary._id, version: temporary.version, createdAt: temporary.createdAt }, new Date()));
      await write(() => profiles.deleteOne({ _id: temporary._id, mergingInto: permanentNumber }));
    },

    async finishMergeOf(temporaryNumber: string): Promise<void> {
      const temporary = await profiles.findOne({ _id: temporaryNumber });
      if (temporary?.mergingInto) await this.finishMerge(temporary, temporary.mergingInto);
    },

    /** Temporary profiles whose merge was interrupted (for the sweep). */
    findMerging: (limit: number) => findUpTo(profiles, { mergingInto: { $exists: true } }, limit),
  };
}
