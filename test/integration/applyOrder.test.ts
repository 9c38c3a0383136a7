import { describe, expect, it } from 'vitest';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { permanent } from '../helpers/decider.ts';
import { makeApplier } from '../../workers/profile/apply.ts';
import type { StepDecision } from '../../workers/profile/decide.ts';
import { makeProfileStore, WriteConflict } from '../../workers/profile/store.ts';
import { freshMongo } from '../helpers/services.ts';

describe('the order of a step\'s writes (apply.ts)', () => {

  it('given a creation whose number another process reserved first, then its claims are not taken: a claim counts as a creation\'s own only for its reserved number', async () => {
    const mongo = await freshMongo('apply');
    const store = makeProfileStore(mongo, { claimKey: makeClaimKey('a-test-secret-of-at-least-32-characters') });
    await store.ensureIndexes();
    // Another process decided the same creation first and reserved number 2000001 for it.
    await store.reserveCreations([{ _id: '1:create-1', customerNumber: '2000001', resultKey: '' }]);

    const profile: ProfileDoc = permanent('2000002');
    const decision: StepDecision = {
      results: [],
      relay: [profile],
      writes: [{ doc: profile, expectedVersion: null }],
      reservations: [{ _id: '1:create-1', customerNumber: profile._id, resultKey: '' }],
      claims: { emails: { take: [{ _id: 'email-claim', customerNumber: profile._id, staleOwner: null }], release: [] }, accounts: { take: [], release: [] } },
      definitions: [],
    };
    await expect(makeApplier(store).apply(decision)).rejects.toBeInstanceOf(WriteConflict);

    expect((await store.emails.find(['email-claim'])).size).toBe(0);
    expect((await store.findProfiles([profile._id])).size).toBe(0);
  });
});
