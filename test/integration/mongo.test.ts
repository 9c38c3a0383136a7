import { describe, expect, it } from 'vitest';
import { MongoServerError } from 'mongodb';
import { connectMongo } from '../../shared/mongo.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

describe('mongo adapter', () => {
  const config = testConfig();

  it('writes, reads, and enforces a unique index', async () => {
    const mongo = await connectMongo(config.mongoUri, { dbName: randomName('smoke').replace('-', '_') });
    cleanup(async () => {
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    const profiles = mongo.db.collection<{ organisationId: number; customerNumber: string; version: number }>('profiles');
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
});
