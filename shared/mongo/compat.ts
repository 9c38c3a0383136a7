// What the suite does differently for the MongoDB-wire server it runs on locally, in one place.
// Stores say what they mean (`insertOnce`, `bulkWrite`, `byIds`, `grouped`); how that is done
// safely on every server lives here. On MongoDB itself each of these is merely a little careful.
//
// The local stack runs FerretDB v1 on SQLite (scripts/stack.sh, patched: see docs/local-stack.md), which
// differs from MongoDB in these ways, each with its answer below:
// - Several multi-statement writes (bulkWrite, insertMany) running at once on a database can hang
//   it for good, holding its whole connection pool (SQLite and PostgreSQL backends alike; seen under
//   the benchmark with three partitions in flight). → A connection's writes take turns
//   (`MongoWrites.turn`); reads are not affected and stay concurrent.
// - As released it kept a connection per update statement until the whole command ended, and hung
//   on bulks of more than its pool of 100 (the local build is patched). → Bulk writes go in chunks.
// - It hangs on a bulk insert with many duplicate keys, and on concurrent upserts. → No upserts;
//   `insertOnce` inserts only, and looks first when many of the documents may be there already.
// - `findOneAndUpdate` with `$inc` is not atomic across connections: two processes incrementing
//   one counter lose updates (800 concurrent increments from two clients: 183 values handed out
//   twice). → Nothing counts with `$inc`; a sequence is claimed by inserting a unique `_id` per
//   value or block (an insert of a duplicate `_id` fails on every server).
// - It keeps an SQLite connection per open cursor. → `byIds` and `findUpTo` read in one batch, so
//   the server closes the cursor at once.
// - createIndexes while other operations are in flight can deadlock (its metadata lock waits for
//   a connection that an operation waiting for the lock holds), and creating a missing collection
//   takes the same lock. → `createMissingCollections` and `createMissingIndexes`: made only when
//   missing, one after the other, at start-up; a running system never calls createIndexes.
// - Costs: an updated document costs what several inserts cost (it decodes the stored document,
//   applies the change and re-encodes it; the patched build spares the decode of a version-guarded
//   replace and commits once per command), a nested field is re-encoded on every update, and each
//   statement costs about what a bulk of inserts or an `_id: {$in}` delete does. → Prefer inserts
//   and deletes to updates, and share statements among callers (`grouped`). Only `_id` lookups,
//   the few indexed ranges and `{field: {$exists: true}}` on an indexed field are served from an
//   index: a filter on another field (a count, a delete by customer number) scans the collection.
import type { AnyBulkWriteOperation, Collection, Db, Document, Filter, OptionalUnlessRequiredId, WithId } from 'mongodb';
import { combine, oneAtATime } from '../combine.ts';

/** Runs `write` in the connection's turn: one write (or block of writes) at a time, in call order. */
export type WriteTurn = <T>(write: () => Promise<T>) => Promise<T>;

/** What a chunked bulk write did, summed over its chunks. */
export type BulkCounts = { insertedCount: number; matchedCount: number; modifiedCount: number; deletedCount: number; upsertedCount: number };

export type InsertOnceOptions = {
  /**
   * Many of the documents may be stored already (a redelivered batch, a run repeated after an
   * interruption): they are looked up first and only the others inserted. @defaultValue false
   */
  manyExisting?: boolean;
};

/** Statements per bulk write sent to the server. */
export const bulkChunk = 1_000;

const isDuplicateKeyOnly = (error: unknown): error is { writeErrors: unknown } => {
  const writeErrors = [(error as { writeErrors?: unknown }).writeErrors ?? []].flat() as { code?: number }[];
  return writeErrors.length > 0 && writeErrors.every((writeError) => writeError.code === 11000);
};

/**
 * The documents with these ids, by id, in one `_id: {$in}` query and one batch (the server closes
 * the cursor at once). With a `projection`, the documents hold only its fields (and `_id`).
 */
export async function byIds<T extends { _id: string }>(collection: Collection<T>, ids: Iterable<string>, options: { projection?: Document } = {}): Promise<Map<string, T>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const docs = (await collection.find({ _id: { $in: unique } } as never, { batchSize: unique.length + 1, ...(options.projection ? { projection: options.projection } : {}) }).toArray()) as unknown as T[];
  return new Map(docs.map((doc) => [doc._id, doc]));
}

/** Ids per `_id: {$in}` query of {@link groupedByIds} (the patched server matches up to 10,000 from its index). */
const idsPerRead = 5_000;

/**
 * {@link byIds} for callers running at once (the steps of several partitions): their ids go out
 * together, one `_id: {$in}` query per collection at a time — a caller that comes while one is on
 * its way joins the next. A lone caller's query goes at once. Each caller gets its own ids' documents.
 */
export function groupedByIds<T extends { _id: string }>(
  collection: Collection<T>,
  options: { projection?: Document; /** Callers per query. @defaultValue 64 */ maxCallers?: number } = {},
): (ids: Iterable<string>) => Promise<Map<string, T>> {
  const { maxCallers = 64, ...byIdsOptions } = options;
  const read = combine<string[], Map<string, T>>(
    async (lists) => {
      const ids = [...new Set(lists.flat())];
      const found = new Map<string, T>();
      for (let start = 0; start < ids.length; start += idsPerRead) for (const [id, doc] of await byIds(collection, ids.slice(start, start + idsPerRead), byIdsOptions)) found.set(id, doc);
      return lists.map(() => found);
    },
    { max: maxCallers, turn: oneAtATime() },
  );
  return async (ids) => {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return new Map();
    const found = await read(wanted);
    return new Map(wanted.flatMap((id) => (found.has(id) ? [[id, found.get(id)!] as const] : [])));
  };
}

/** At most `limit` documents matching `filter`, in one batch (the server closes the cursor at once). */
export function findUpTo<T extends Document>(collection: Collection<T>, filter: Filter<T>, limit: number): Promise<WithId<T>[]> {
  return collection.find(filter, { limit, batchSize: limit + 1 }).toArray();
}

/** The first document of each `_id`, in order. */
function firstOfEachId<T extends { _id: string }>(docs: readonly T[]): T[] {
  const seen = new Set<string>();
  return docs.filter((doc) => {
    if (seen.has(doc._id)) return false;
    seen.add(doc._id);
    return true;
  });
}

async function insertOnceWith<T extends { _id: string }>(turn: WriteTurn, collection: Collection<T>, docs: readonly T[], options: InsertOnceOptions): Promise<Set<string>> {
  const existing = new Set<string>();
  let fresh = firstOfEachId(docs);
  if (fresh.length === 0) return existing;
  if (options.manyExisting) {
    const stored = await byIds(collection, fresh.map((doc) => doc._id), { projection: { _id: 1 } });
    for (const id of stored.keys()) existing.add(id);
    fresh = fresh.filter((doc) => !existing.has(doc._id));
  }
  for (let start = 0; start < fresh.length; start += bulkChunk) {
    const chunk = fresh.slice(start, start + bulkChunk);
    try {
      await turn(() => collection.insertMany(chunk as OptionalUnlessRequiredId<T>[], { ordered: false }));
    } catch (error) {
      if (!isDuplicateKeyOnly(error)) throw error;
      // Stored before, or meanwhile by another process: theirs stands.
      for (const writeError of [error.writeErrors].flat() as { index: number }[]) existing.add(chunk[writeError.index]!._id);
    }
  }
  return existing;
}

async function bulkWriteWith<T extends Document>(turn: WriteTurn, collection: Collection<T>, operations: readonly AnyBulkWriteOperation<T>[]): Promise<BulkCounts> {
  const counts: BulkCounts = { insertedCount: 0, matchedCount: 0, modifiedCount: 0, deletedCount: 0, upsertedCount: 0 };
  for (let start = 0; start < operations.length; start += bulkChunk) {
    const result = await turn(() => collection.bulkWrite(operations.slice(start, start + bulkChunk), { ordered: false }));
    for (const key of Object.keys(counts) as (keyof BulkCounts)[]) counts[key] += result[key];
  }
  return counts;
}

/** The writes of `MongoWrites` for code that needs no turn of its own (see {@link inTurn}). */
export type TurnWrites = {
  /**
   * Inserts the documents whose `_id` is not stored yet (of several with one `_id` in the call, the
   * first), never replacing one; returns the ids that were stored already, before or meanwhile by
   * another process. Never an upsert.
   */
  insertOnce: <T extends { _id: string }>(collection: Collection<T>, docs: readonly T[], options?: InsertOnceOptions) => Promise<Set<string>>;
  /** An unordered bulk write, sent in chunks of {@link bulkChunk} statements; the counts summed. */
  bulkWrite: <T extends Document>(collection: Collection<T>, operations: readonly AnyBulkWriteOperation<T>[]) => Promise<BulkCounts>;
};

const direct: WriteTurn = (write) => write();

/**
 * The same writes without taking the turn: for code that holds it already (a {@link MongoWrites.grouped}
 * runner, a `turn(() => …)` block) or that runs alone (start-up, an offline script). Called while
 * another write of the process may run, they lose the protection the turn gives.
 */
export const inTurn: TurnWrites = {
  insertOnce: (collection, docs, options = {}) => insertOnceWith(direct, collection, docs, options),
  bulkWrite: (collection, operations) => bulkWriteWith(direct, collection, operations),
};

/**
 * The writes of one connection. Each takes the connection's turn itself (a chunked write, once
 * per chunk), so inside a turn — a `turn(() => …)` block or a `grouped` runner — use {@link inTurn}
 * instead: a turn waiting for itself never comes.
 */
export type MongoWrites = TurnWrites & {
  /** Runs a write these methods have no word for in the connection's turn. */
  turn: WriteTurn;
  /**
   * Group commit: operations called while a batch waits for the turn go out together, up to `max`
   * per batch, each caller awaiting its own result. `run` holds the turn (use {@link inTurn}).
   */
  grouped: <Op, Result>(run: (operations: Op[]) => Promise<Result[]>, options: { max: number }) => (operation: Op) => Promise<Result>;
};

/** A connection's writes, with their own turn: made once per connection (connect.ts), never shared. */
export function makeMongoWrites(): MongoWrites {
  const turn = oneAtATime();
  return {
    turn,
    insertOnce: (collection, docs, options = {}) => insertOnceWith(turn, collection, docs, options),
    bulkWrite: (collection, operations) => bulkWriteWith(turn, collection, operations),
    grouped: (run, options) => combine(run, { max: options.max, turn }),
  };
}

/**
 * Creates those of these collections that are missing, one after the other; at start-up, before any
 * worker writes (never while a system is running: see the top of this file).
 */
export async function createMissingCollections(db: Db, names: readonly string[]): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((collection) => collection.name));
  for (const name of names) {
    if (existing.has(name)) continue;
    await db.createCollection(name).catch((error: unknown) => {
      if ((error as { codeName?: string }).codeName !== 'NamespaceExists') throw error;
    });
  }
}

/** Creates those of these indexes that are missing, one after the other; at start-up, like {@link createMissingCollections}. */
export async function createMissingIndexes(db: Db, indexes: readonly { collection: string; key: Record<string, 1>; name: string; sparse?: boolean }[]): Promise<void> {
  for (const { collection, key, name, sparse } of indexes) {
    const existing = await db
      .collection(collection)
      .listIndexes()
      .toArray()
      .catch(() => [] as { name?: string }[]); // no collection yet
    if (existing.some((index) => index.name === name)) continue;
    // The local server ignores `sparse` (it indexes every document).
    await db.collection(collection).createIndex(key, { name, ...(sparse ? { sparse } : {}) });
  }
}
