import { describe, expect, it } from 'vitest';
import { toProfile, type ProfileDoc } from '../../shared/customers/document.ts';
import { changedEvent } from '../../shared/customers/events.ts';
import { carriedEntries, entriesOf, packEntry, type PendingEntry } from '../../shared/outbox.ts';
import { permanent } from '../helpers/decider.ts';

/** The entry of the write that made `doc`, stored in it. */
function written(doc: ProfileDoc, commandId: string): ProfileDoc {
  const profile = toProfile(doc);
  const entry: PendingEntry = { commandId, resultKey: `1:${doc._id}`, result: null, events: [changedEvent(profile, 'UPDATED', { commandId, correlationId: null, actor: null }, '2026-12-03T10:00:00.000Z')] };
  return { ...doc, pending: [...doc.pending, packEntry(entry, profile)] };
}

describe('pending entries as stored in their profile', () => {
  it("store the event of the document's own version without its profile, and give it back whole", () => {
    const doc = written(permanent('1001', { surname: 'Nordmann', version: 2 }), 'c1');
    expect(doc.pending[0]!.body).not.toContain('Nordmann');
    const [entry] = entriesOf(doc);
    expect(entry!.events[0]!.profile).toMatchObject({ customerNumber: '1001', surname: 'Nordmann', version: 2 });
    expect(entry!.events[0]!.profile).toEqual(changedEvent(toProfile(doc), 'UPDATED', { commandId: 'c1', correlationId: null, actor: null }, 'x').profile);
  });

  it('carried into a later version of the document, an entry keeps the profile of its own version', () => {
    const first = written(permanent('1001', { surname: 'Nordmann', version: 2 }), 'c1');
    const second = written({ ...permanent('1001', { surname: 'Hansen', version: 3 }), pending: carriedEntries(first) }, 'c2');
    const [older, newer] = entriesOf(second);
    expect(older!.events[0]!.profile).toMatchObject({ surname: 'Nordmann', version: 2 });
    expect(newer!.events[0]!.profile).toMatchObject({ surname: 'Hansen', version: 3 });
    expect(second.pending[0]!.body).toContain('Nordmann');
    expect(second.pending[1]!.body).not.toContain('Hansen');
  });
});
