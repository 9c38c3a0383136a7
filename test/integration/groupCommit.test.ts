import { describe, expect, it } from 'vitest';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { makeProfileStore, WriteConflict } from '../../workers/profile/store.ts';
import { permanent } from '../helpers/decider.ts';
import { freshMongo } from '../helpers/services.ts';

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const now = '2026-12-01T12:00:00.000Z';
/** A stored profile at `version`, as the decision `write` wrote it (its last entry is that decision's). */
const profile = (number: number, version: number, write: string): ProfileDoc =>
  permanent(String(7_000_000 + number), { version, pending: [{ commandId: `c-${number}-${version}`, resultKey: null, body: JSON.stringify({ write }) }] });

describe('group commit: the writes of the steps in flight at once, in one statement per kind', () => {

  async function freshStore() {
    const mongo = await freshMongo('group');
    const store = makeProfileStore(mongo, { claimKey: makeClaimKey('a-test-secret-of-at-least-32-characters') });
    await store.ensureIndexes();
    return { mongo, store };
  }

  it('given three steps written together, one at its version, one behind it, one creating a profile that exists, then only the first goes through and each of the others learns it lost', async () => {
    const { mongo, store } = await freshStore();
    await mongo.db.collection<ProfileDoc>('profiles').insertMany([profile(1, 1, 'old'), profile(2, 5, 'other'), profile(3, 1, 'old')]);

    // The connection busy with another write: the three steps wait for the turn, and go out as one group.
    const held = gate();
    const holding = mongo.writes.turn(() => held.opened);
    const atVersion = store.writeProfiles([{ doc: profile(1, 2, 'step-a'), expectedVersion: 1 }]);
    const behind = store.writeProfiles([{ doc: profile(2, 5, 'step-b'), expectedVersion: 4 }]);
    const created = store.writeProfiles([{ doc: profile(3, 1, 'step-c'), expectedVersion: null }]);
    held.open();
    await holding;

    await expect(atVersion).resolves.toBeUndefined();
    await expect(behind).rejects.toBeInstanceOf(WriteConflict);
    await expect(created).rejects.toBeInstanceOf(WriteConflict);
    const stored = await store.findProfiles(['1', '2', '3'].map((index) => String(7_000_000 + Number(index))));
    expect([...stored.values()].map((doc) => [doc.version, JSON.parse(doc.pending.at(-1)!.body).write])).toEqual([
      [2, 'step-a'],
      [5, 'other'],
      [1, 'old'],
    ]);
  });

  it('given three steps taking claims together — a free value, a value claimed meanwhile, a stale claim taken over meanwhile — then only the free one goes through', async () => {
    const { mongo, store } = await freshStore();
    await mongo.db.collection('emailClaims').insertOne({ _id: 'taken' as never, customerNumber: 'someone' });

    const held = gate();
    const holding = mongo.writes.turn(() => held.opened);
    const free = store.emails.take([{ _id: 'free', customerNumber: '1', staleOwner: null }]);
    const taken = store.emails.take([{ _id: 'taken', customerNumber: '2', staleOwner: null }]);
    const staleGone = store.emails.take([{ _id: 'stale', customerNumber: '3', staleOwner: 'nobody' }]);
    held.open();
    await holding;

    await expect(free).resolves.toBeUndefined();
    await expect(taken).rejects.toBeInstanceOf(WriteConflict);
    await expect(staleGone).rejects.toBeInstanceOf(WriteConflict);
    expect((await store.emails.find(['free', 'taken'])).get('taken')?.customerNumber).toBe('someone');
  });

  it('given two decisions of one profile at one version written together, then one goes through and the other learns it lost', async () => {
    const { mongo, store } = await freshStore();
    await mongo.db.collection<ProfileDoc>('profiles').insertOne(profile(1, 1, 'old'));
    const held = gate();
    const holding = mongo.writes.turn(() => held.opened);
    const writes = ['step-a', 'step-b'].map((write) => store.writeProfiles([{ doc: profile(1, 2, write), expectedVersion: 1 }]));
    held.open();
    await holding;
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((outcome) => outcome.status === 'rejected')).toMatchObject({ reason: expect.any(WriteConflict) });
  });

  it('given steps recording the results of relayed entries together, one of them stored already, then each is stored once and the stored one stands', async () => {
    const { mongo, store } = await freshStore();
    const result = (commandId: string, status: 'ACCEPTED' | 'REJECTED') => ({ commandId, correlationId: 'k', clientName: 'x', organisationId: 1, customerNumber: null, commandType: 'SetPreference', status, code: null, message: null, version: null, processedAt: now });
    await store.recordResults([{ _id: '1:c2', result: result('c2', 'REJECTED'), resultKey: '' }]);
    const held = gate();
    const holding = mongo.writes.turn(() => held.opened);
    const recorded = Promise.all([
      store.recordResults([{ _id: '1:c1', result: result('c1', 'ACCEPTED'), resultKey: '' }]),
      store.recordResults([{ _id: '1:c2', result: result('c2', 'ACCEPTED'), resultKey: '' }, { _id: '1:c3', result: result('c3', 'ACCEPTED'), resultKey: '' }]),
    ]);
    held.open();
    await Promise.all([holding, recorded]);
    const stored = await store.findCommands(['1:c1', '1:c2', '1:c3']);
    expect([...stored].map(([id, doc]) => [id, doc.result?.status])).toEqual([
      ['1:c1', 'ACCEPTED'],
      ['1:c2', 'REJECTED'],
      ['1:c3', 'ACCEPTED'],
    ]);
  });

  it('given results of two steps for the same command together, then the first is stored and the second gets it', async () => {
    const { mongo, store } = await freshStore();
    const result = (status: 'ACCEPTED' | 'REJECTED') => ({ commandId: 'c1', correlationId: 'k', clientName: 'x', organisationId: 1, customerNumber: null, commandType: 'SetPreference', status, code: null, message: null, version: null, processedAt: now });
    const held = gate();
    const holding = mongo.writes.turn(() => held.opened);
    const first = store.putResults([{ _id: '1:c1', result: result('ACCEPTED'), resultKey: '' }], { ids: new Set(['1:c1']), results: new Map() });
    const second = store.putResults([{ _id: '1:c1', result: result('REJECTED'), resultKey: '' }], { ids: new Set(['1:c1']), results: new Map() });
    held.open();
    await holding;
    expect((await first).get('1:c1')?.status).toBe('ACCEPTED');
    expect((await second).get('1:c1')?.status).toBe('ACCEPTED');
  });
});
