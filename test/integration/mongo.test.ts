import { describe, expect, it } from 'vitest';
import { MongoServerError } from 'mongodb';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

describe('mongo adapter', () => {
  const config = testConfig();

  /** A database of its own for the test, dropped after it. */
  async function freshDatabase(prefix: string) {
    const mongo = await connectMongo(config.mongoUri, { dbName: randomName(prefix).replace('-', '_') });
    cleanup(async () => {
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    return mongo.db;
  }

  it('writes, reads, and enforces a unique index', async () => {
    const db = await freshDatabase('smoke');
    const profiles = db.collection<{ organisationId: number; customerNumber: string; version: number }>('profiles');
    await profiles.createIndex({ organisationId: 1, customerNumber: 1 }, { unique: true });

    await profiles.insertOne({ organisationId: 1, customerNumber: '1001', version: 1 });
    const updated = await profiles.findOneAndUpdate(
      { organisationId: 1, customerNumber: '1001', version: 1 },
      { $inc: { version: 1 } },
      { returnDocument: 'after' },
    );
    expect(updated?.version).toBe(2);

    const duplicate = profiles.insertOne({ organisationId: 1, customerNumber: '1001', version: 1 });
    await expect(duplicate).rejects.toBeInstanceOf(MongoServerError);
    await expect(duplicate).rejects.toMatchObject({ code: 11000 });
    // The same number in another organisation is another key.
    await profiles.insertOne({ organisationId: 2, customerNumber: '1001', version: 1 });
    expect(await profiles.countDocuments({ customerNumber: '1001' })).toBe(2);
  });

  // The reconciliation's query. The local FerretDB answers it from SQLite (scripts/stack's patch
  // pushes string ranges down); the answer must be MongoDB's whatever the field holds.
  it('a string range filter matches exactly the strings in range, and arrays with one', async () => {
    const db = await freshDatabase('range');
    const docs = db.collection<{ _id: string; expirationDate?: unknown }>('docs');
    await docs.insertMany([
      { _id: 'early', expirationDate: '2026-01-01T00:00:00.000Z' },
      { _id: 'bound', expirationDate: '2026-06-01T00:00:00.000Z' },
      { _id: 'late', expirationDate: '2027-01-01T00:00:00.000Z' },
      { _id: 'null', expirationDate: null },
      { _id: 'missing' },
      { _id: 'number', expirationDate: 5 },
      { _id: 'array-in', expirationDate: ['2030-01-01', '2025-01-01'] },
      { _id: 'array-out', expirationDate: ['2030-01-01'] },
      { _id: 'quote', expirationDate: '2026-"quoted"' },
      { _id: 'unicode', expirationDate: '2026-æøå' },
    ]);
    const ids = async (filter: object) => (await docs.find(filter).toArray()).map((doc) => doc._id).sort();
    expect(await ids({ expirationDate: { $ne: null, $lte: '2026-06-01T00:00:00.000Z' } })).toEqual(['array-in', 'bound', 'early', 'quote']);
    expect(await ids({ expirationDate: { $lt: '2026-06-01T00:00:00.000Z' } })).toEqual(['array-in', 'early', 'quote']);
    expect(await ids({ expirationDate: { $gt: '2026-06-01T00:00:00.000Z', $lt: '2030' } })).toEqual(['array-in', 'late', 'unicode']);
    expect(await ids({ expirationDate: { $gte: '2026-æ' } })).toEqual(['array-in', 'array-out', 'late', 'unicode']);
  });

  // The deletion worker's and the claim sweep's queries, pushed down the same way.
  it('string equality, $in and null filters match what MongoDB matches', async () => {
    const db = await freshDatabase('equal');
    const docs = db.collection<{ _id: string; value?: unknown }>('docs');
    await docs.insertMany([
      { _id: 'a', value: 'a' },
      { _id: 'b', value: 'b' },
      { _id: 'null', value: null },
      { _id: 'missing' },
      { _id: 'number', value: 1 },
      { _id: 'object', value: { a: 'a' } },
      { _id: 'array', value: ['a', null] },
    ]);
    const ids = async (filter: object) => (await docs.find(filter).toArray()).map((doc) => doc._id).sort();
    expect(await ids({ value: 'a' })).toEqual(['a', 'array']);
    expect(await ids({ value: { $eq: 'b' } })).toEqual(['b']);
    expect(await ids({ value: null })).toEqual(['array', 'missing', 'null']);
    expect(await ids({ value: { $in: ['a', 'b'] } })).toEqual(['a', 'array', 'b']);
    expect(await ids({ value: 'a', _id: { $in: ['a', 'b'] } })).toEqual(['a']);
    expect((await docs.deleteMany({ value: { $in: ['b', 'c'] } })).deletedCount).toBe(1);
    expect(await ids({})).toEqual(['a', 'array', 'missing', 'null', 'number', 'object']);
  });
});
