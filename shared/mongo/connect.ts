import { MongoClient, type Db } from 'mongodb';
import { makeMongoWrites, type MongoWrites } from './compat.ts';

/**
 * One connection: its client, its database, and its writes (each connection's own turn, see
 * ./compat.ts). Pass it on whole, or the parts a user needs (`Pick<Mongo, 'db' | 'writes'>`).
 */
export type Mongo = { client: MongoClient; db: Db; writes: MongoWrites; close: () => Promise<void> };

/**
 * Connects to a MongoDB-wire server (the local stack's, or MongoDB in docker-compose). The database
 * is the one named in the URI's path (`profiles` by default), or `dbName` when given (tests).
 */
export async function connectMongo(uri: string, options: { dbName?: string; appName?: string; /** Command monitoring events on the client (the benchmark counts round trips). */ monitorCommands?: boolean } = {}): Promise<Mongo> {
  const client = new MongoClient(uri, {
    appName: options.appName ?? 'customer-profiles',
    serverSelectionTimeoutMS: 10_000,
    monitorCommands: options.monitorCommands ?? false,
  });
  await client.connect();
  const db = client.db(options.dbName);
  return { client, db, writes: makeMongoWrites(), close: () => client.close() };
}
