import { describe, expect, it } from 'vitest';
import { plainSha256Key, rekeyClaims } from '../../scripts/rekeyClaims.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { freshMongo } from '../helpers/services.ts';

/** The rotation of CLAIM_KEY_SECRET (and the move away from plain SHA-256 keys): claims follow. */
describe('re-keying the claims', () => {

  it('moves every claim whose owner holds the value to its new key, drops those of erased owners, and can run again', async () => {
    const mongo = await freshMongo('rekey');
    const db = mongo.db;
    const next = makeClaimKey('the-new-claim-key-secret-of-32-characters-or-more');
    await db.collection('profiles').insertMany([
      { _id: '5000001' as never, organisationId: 1, email: 'Kari@Example.com', emailOld: null, customerAccounts: ['ABT-778812'] },
      { _id: '5000002' as never, organisationId: 2, email: null, emailOld: 'ola@example.com', customerAccounts: [] },
    ]);
    const at = new Date();
    await db.collection('emailClaims').insertMany([
      { _id: plainSha256Key(1, 'kari@example.com') as never, customerNumber: '5000001', at },
      { _id: plainSha256Key(2, 'ola@example.com') as never, customerNumber: '5000002', at },
      { _id: plainSha256Key(1, 'gone@example.com') as never, customerNumber: '5000009', at }, // an erased owner's
    ]);
    await db.collection('accountClaims').insertOne({ _id: plainSha256Key(1, 'ABT-778812') as never, customerNumber: '5000001', at });

    expect(await rekeyClaims(db, { previous: plainSha256Key, next }, { batch: 2 })).toEqual({ rekeyed: 3, current: 0, dropped: 1, unknown: 0 });
    const idsOf = async (name: string) => (await db.collection(name).find({}).map((claim) => `${String(claim['_id'])} ${claim['customerNumber'] as string}`).toArray()).sort();
    expect(await idsOf('emailClaims')).toEqual([`${next(1, 'kari@example.com')} 5000001`, `${next(2, 'ola@example.com')} 5000002`].sort());
    expect(await idsOf('accountClaims')).toEqual([`${next(1, 'ABT-778812')} 5000001`]);

    expect(await rekeyClaims(db, { previous: plainSha256Key, next })).toEqual({ rekeyed: 0, current: 3, dropped: 0, unknown: 0 });
    expect(await idsOf('emailClaims')).toHaveLength(2);
  });
});
