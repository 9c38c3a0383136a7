import { describe, expect, it } from 'vitest';
import { makeErasureStore } from '../../workers/deletion/store.ts';
import { cleanup, freshMongo } from '../helpers/services.ts';

/**
 * Claims left behind by a command that raced an erasure (claimed a value for the customer just
 * before its write failed) are released durably: the sweep recorded by the saga survives the
 * process that recorded it (item 16).
 */
describe('claim sweeps of erased customers', () => {
  it('a claim owned by an erased customer is removed by a fresh process, after the process that erased it stopped before its sweep', async () => {
    const mongo = await freshMongo('claimsweep');
    const { db } = mongo;
    const erased = { _id: '1:4000001', customerNumber: '4000001' };
    // The process that erased the customer: its saga recorded the sweep, then the process died.
    const dying = makeErasureStore(mongo, { claimSweepDelayMs: 0, claimSweepIntervalMs: 3_600_000 });
    await dying.ensureIndexes();
    await dying.sweepClaimsLater(erased);
    // Meanwhile a racing command's claims for the customer, and another customer's, which stay.
    await db.collection('emailClaims').insertMany([
      { _id: '1:raced-email' as never, customerNumber: erased.customerNumber, at: new Date() },
      { _id: '1:other-email' as never, customerNumber: '4000002', at: new Date() },
    ]);
    await db.collection('accountClaims').insertOne({ _id: '1:raced-account' as never, customerNumber: erased.customerNumber, at: new Date() });

    const fresh = makeErasureStore(mongo, { claimSweepDelayMs: 0, claimSweepIntervalMs: 3_600_000 });
    cleanup(() => Promise.all([dying.close(), fresh.close()]));
    expect(await fresh.sweepClaims()).toBe(1);

    expect(await db.collection('emailClaims').find({}).map((claim) => claim['customerNumber'] as string).toArray()).toEqual(['4000002']);
    expect(await db.collection('accountClaims').countDocuments({})).toBe(0);
    expect(await db.collection('claimSweeps').countDocuments({})).toBe(0);
  });

  it('a sweep is not run before its delay (a command racing the erasure may still be claiming)', async () => {
    const mongo = await freshMongo('claimsweep');
    const { db } = mongo;
    const store = makeErasureStore(mongo, { claimSweepDelayMs: 60_000, claimSweepIntervalMs: 3_600_000 });
    cleanup(() => store.close());
    await store.ensureIndexes();
    await store.sweepClaimsLater({ _id: '1:4000003', customerNumber: '4000003' });
    await store.sweepClaimsLater({ _id: '1:4000003', customerNumber: '4000003' }); // a resumed saga records it again
    await db.collection('emailClaims').insertOne({ _id: '1:racing' as never, customerNumber: '4000003', at: new Date() });
    expect(await store.sweepClaims()).toBe(0);
    expect(await db.collection('emailClaims').countDocuments({})).toBe(1);
    expect(await db.collection('claimSweeps').countDocuments({})).toBe(1);
  });
});
