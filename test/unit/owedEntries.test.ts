import { describe, expect, it } from 'vitest';
import { toProfile, type ProfileDoc } from '../../shared/customers/document.ts';
import { changedEvent } from '../../shared/customers/events.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { carriedEntries, commandKey, makeOutboxStore, marksToRead, owedOf, packEntry, type PendingEntry, type Relayed } from '../../shared/outbox.ts';
import { permanent } from '../helpers/decider.ts';

/** `doc` with the entry of a change by `commandId` (of an older version of the suite when `step` is given). */
function withEntry(doc: ProfileDoc, commandId: string, step?: string): ProfileDoc {
  const entry: PendingEntry = { commandId, resultKey: `1:${doc._id}`, result: null, events: [changedEvent(toProfile(doc), 'UPDATED', { commandId, correlationId: null, actor: null }, '2026-12-03T10:00:00.000Z')] };
  const packed = packEntry(entry, toProfile(doc));
  return { ...doc, pending: [...doc.pending, step === undefined ? packed : { ...packed, step }] };
}

const relayed = (results: string[], openSteps: string[] = []): Relayed => ({ results: new Set(results), openSteps: new Set(openSteps) });
const owedIds = (doc: ProfileDoc, marks: Relayed) => owedOf(doc, marks).pending.map((entry) => entry.commandId);

describe('which pending entries are owed (shared/outbox.ts)', () => {
  it('given an entry whose result is not stored, then it is owed; stored, then it went out', () => {
    const doc = withEntry(withEntry(permanent('1001', { organisationId: 1 }), 'c1'), 'c2');
    expect(owedIds(doc, relayed([]))).toEqual(['c1', 'c2']);
    expect(owedIds(doc, relayed([commandKey(1, 'c1')]))).toEqual(['c2']);
  });

  it('given a result stored under another organisation, then it does not mark this profile\'s entry', () => {
    const doc = withEntry(permanent('1001', { organisationId: 1 }), 'c1');
    expect(owedIds(doc, relayed([commandKey(2, 'c1')]))).toEqual(['c1']);
  });

  it('given an entry of an older version (with a relay step), then it is owed while its step is open, whatever is stored', () => {
    const doc = withEntry(permanent('1001', { organisationId: 1 }), 'c1', 'old-step');
    expect(owedIds(doc, relayed([commandKey(1, 'c1')], ['old-step']))).toEqual(['c1']);
    expect(owedIds(doc, relayed([]))).toEqual([]);
  });

  it('asks for the results of this version\'s entries and the steps of older ones', () => {
    const doc = withEntry(withEntry(permanent('1001', { organisationId: 3 }), 'c1', 'old-step'), 'c2');
    expect(marksToRead([doc])).toEqual({ results: [commandKey(3, 'c2')], steps: ['old-step'] });
  });

  it('carried into a later write, an entry of an older version keeps its step', () => {
    const doc = withEntry(permanent('1001', { version: 2 }), 'c1', 'old-step');
    expect(carriedEntries(doc)).toMatchObject([{ commandId: 'c1', step: 'old-step' }]);
    expect(carriedEntries(withEntry(permanent('1001', { version: 2 }), 'c2'))[0]).not.toHaveProperty('step');
  });
});

describe('the results the outbox remembers as stored', () => {
  // Only what is remembered is used here: nothing is read or written.
  const unused = { db: { collection: () => ({}) }, writes: { turn: () => Promise.reject(new Error('no writes here')) } } as unknown as Pick<Mongo, 'db' | 'writes'>;

  it('given more results noted than it keeps, then it forgets the least recently noted first', () => {
    const outbox = makeOutboxStore(unused, { rememberSent: 2 });
    outbox.noteSent(['1:a', '1:b']);
    outbox.noteSent(['1:a']); // noted again: the most recent
    outbox.noteSent(['1:c']);
    expect(['1:a', '1:b', '1:c'].map((key) => outbox.knownSent(key))).toEqual([true, false, true]);
  });
});
