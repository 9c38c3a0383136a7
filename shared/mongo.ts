import { MongoClient, type Collection, type Db } from 'mongodb';
import { oneAtATime } from './combine.ts';

export type Mongo = { client: MongoClient; db: Db; close: () => Promise<void> };

/**
 * Connects to a MongoDB-wire server (FerretDB locally, MongoDB in docker-compose). The database is
 * the one named in the URI's path (`profiles` by default), or `dbName` when given (tests).
 */
export async function connectMongo(uri: string, options: { dbName?: string; appName?: string } = {}): Promise<Mongo> {
  const client = new MongoClient(uri, {
    appName: options.appName ?? 'customer-profiles',
    serverSelectionTimeoutMS: 10_000,
  });
  await client.connect();
  const db = client.db(options.dbName);
  return { client, db, close: () => client.close() };
}

const locks = new WeakMap<Db, <T>(write: () => Promise<T>) => Promise<T>>();

/**
 * Runs the writes of one process against one database one at a time. FerretDB v1 (SQLite and
 * PostgreSQL backends alike) can hang for good, holding its whole connection pool, when several
 * multi-statement writes (bulkWrite, insertMany) run at once on a database; seen here under the
 * benchmark with three partitions in flight. Reads are not affected and stay concurrent; each
 * write is a bulk operation, so serialising them costs little.
 */
export function serialWrites(db: Db): <T>(write: () => Promise<T>) => Promise<T> {
  let lock = locks.get(db);
  if (!lock) {
    lock = oneAtATime();
    locks.set(db, lock);
  }
  return lock;
}

/**
 * The documents with these ids, by id, in one `_id: {$in}` query and one batch: the server closes
 * the cursor at once (FerretDB keeps an SQLite connection per open cursor).
 */
export async function byIds<T extends { _id: string }>(collection: Collection<T>, ids: Iterable<string>): Promise<Map<string, T>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const docs = (await collection.find({ _id: { $in: unique } } as never, { batchSize: unique.length + 1 }).toArray()) as unknown as T[];
  return new Map(docs.map((doc) => [doc._id, doc]));
}
