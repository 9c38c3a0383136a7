import { describe, expect, it } from 'vitest';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { makeProfileStore } from '../../workers/profile/store.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

describe('customer numbers', () => {
  const config = testConfig();

  it('given four processes handing out numbers at the same time, then no number is handed out twice (found by test:faults: two creations with one number)', async () => {
    const database = randomName('numbers').replace('-', '_');
    const processes = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const mongo = await connectMongo(config.mongoUri, { dbName: database });
        cleanup(() => mongo.close());
        return makeProfileStore(mongo, { claimKey: makeClaimKey('a-test-secret-of-at-least-32-characters') });
      }),
    );
    cleanup(async () => {
      const mongo = await connectMongo(config.mongoUri, { dbName: database });
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    await processes[0]!.ensureIndexes();

    // Each process takes a block after another, the four at once.
    const handedOut = await Promise.all(
      processes.map(async (store) => {
        const numbers: string[] = [];
        for (let round = 0; round < 15; round++) numbers.push(...(await store.allocateNumbers(1_000)));
        return numbers;
      }),
    );
    const all = handedOut.flat();
    expect(all).toHaveLength(60_000);
    expect(new Set(all).size).toBe(all.length);
  });
});
