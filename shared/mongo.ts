import { MongoClient, type Db } from 'mongodb';

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
