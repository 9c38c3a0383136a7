import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyErasure } from '../../scripts/verifyErasure.ts';
import { makeRedis, type Redis } from '../../shared/redis.ts';
import { actor, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';

/** A merged temporary profile is erased too, and has its receipt (reason MERGED, SPEC §6). */
describe('the receipt of a merged temporary profile', () => {
  let harness: ProfileHarness;
  let redis: Redis;
  beforeAll(async () => {
    harness = await startProfileHarness();
    redis = makeRedis(harness.config.redisUrl);
  });
  afterAll(async () => {
    redis?.disconnect();
    await harness?.close();
  });

  it('after a merge, verify-erasure finds the MERGED receipt and no trace of the temporary profile', async () => {
    const run = async (type: string, payload: Record<string, unknown>, customerNumber?: string) => {
      const result = await harness.run(type, payload, customerNumber);
      expect(result, `${type}: ${result.message}`).toMatchObject({ status: 'ACCEPTED' });
      return result;
    };
    const permanent = (await run('CreateProfile', { ...creator, firstName: 'Perm', surname: 'Anent' })).customerNumber!;
    const email = `merged-${permanent}@example.com`;
    const temporary = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600), email, firstName: 'Qwertzu' })).customerNumber!;
    await run('AddCustomerAccount', { customerAccountId: `card-${temporary}` }, temporary);
    await run('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, temporary);

    const receipt = await waitFor('the receipt', () => harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${temporary}` as never }).then((doc) => doc ?? undefined));
    expect(receipt).toMatchObject({ organisationId: 1, customerNumber: temporary, reason: 'MERGED', lastVersion: 2, steps: ['merge'], completedAt: expect.any(String) });
    expect(JSON.stringify(receipt)).not.toMatch(/Qwertzu|example\.com/);
    await waitFor('the temporary profile removed', async () => (await harness.mongo.db.collection('profiles').countDocuments({ _id: temporary as never })) === 0);

    const verification = await verifyErasure({ db: harness.mongo.db, redis }, { organisationId: 1, customerNumber: temporary, values: [email, 'Qwertzu'] });
    expect(verification.receipt).toMatchObject({ reason: 'MERGED' });
    // Redis is shared with other test runs, whose own customers may have the same numbers.
    expect(verification.findings.filter((finding) => !finding.where.startsWith('redis '))).toEqual([]);
  });
});
