import { describe, expect, it } from 'vitest';
import { creationsWithoutNumber } from '../../workers/profile/decide.ts';
import { commandKey, entriesOf } from '../../shared/outbox.ts';

import { actor, isoAfter } from '../helpers/factories.ts';
import {
  accepted,
  command,
  addAccount,
  claimOfAccount,
  claimOfValue,
  create,
  createTemporary,
  definePreference,
  given,
  holding,
  itemsOf,
  keyOf,
  merge,
  now,
  oldClaim,
  permanent,
  refused,
  rejected,
  setPreference,
  temporary,
  traced,
  update,
  updateTemporary,
  youngClaim,
} from '../helpers/decider.ts';

const nowIso = now.toISOString();
/** The trace context of what a command without one causes: a new trace. */
const newTrace = { traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) };

describe('claims raced inside one step', () => {
  it('given two creations with the same email in one step, then the first takes it and the second is EMAIL_TAKEN', () => {
    const first = create({ email: 'kari@example.com' });
    const second = create({ email: 'KARI@example.com' });

    const decided = given().withNumbers('2000001', '2000002').when(first, second);

    expect(decided.result(first)).toMatchObject({ status: 'ACCEPTED', customerNumber: '2000001', version: 1 });
    expect(decided.result(second)).toMatchObject({ status: 'REJECTED', code: 'EMAIL_TAKEN', customerNumber: null, version: null });
    expect(decided.decision.writes.map(({ doc }) => doc._id)).toEqual(['2000001']);
    expect(decided.claims.emails).toEqual({ take: [{ _id: claimOfValue('kari@example.com'), customerNumber: '2000001', staleOwner: null }], release: [] });
  });

  it('given a profile that gives its email up, then another profile may take it later in the same step: taken over from the old owner, nothing released', () => {
    const giver = permanent('100', { email: 'shared@example.com' });
    const taker = permanent('200', { email: 'own@example.com' });
    const giveUp = update('100', { email: 'new@example.com' });
    const take = update('200', { email: 'Shared@Example.com' });

    const decided = given(giver, taker).withOwnClaims().when(giveUp, take);

    expect(decided.result(giveUp)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(decided.result(take)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(decided.claims.emails.take).toEqual(
      expect.arrayContaining([
        { _id: claimOfValue('shared@example.com'), customerNumber: '200', staleOwner: '100' },
        { _id: claimOfValue('new@example.com'), customerNumber: '100', staleOwner: null },
      ]),
    );
    expect(decided.claims.emails.take).toHaveLength(2);
    // Only the taker's old address is given back; the shared one changes hands, it is not freed.
    expect(decided.claims.emails.release).toEqual([{ _id: claimOfValue('own@example.com'), customerNumber: '200' }]);
  });

  it('given the same two changes the other way round, then the email is still taken when the second profile asks: EMAIL_TAKEN', () => {
    const giver = permanent('100', { email: 'shared@example.com' });
    const taker = permanent('200');
    const take = update('200', { email: 'shared@example.com' });
    const giveUp = update('100', { email: 'new@example.com' });

    const decided = given(giver, taker).withOwnClaims().when(take, giveUp);

    expect(decided.result(take)).toMatchObject({ status: 'REJECTED', code: 'EMAIL_TAKEN', version: 1 });
    expect(decided.result(giveUp)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(decided.claims.emails).toEqual({
      take: [{ _id: claimOfValue('new@example.com'), customerNumber: '100', staleOwner: null }],
      release: [{ _id: claimOfValue('shared@example.com'), customerNumber: '100' }],
    });
  });

  it('given an account another profile holds, then AddCustomerAccount is ACCOUNT_TAKEN and nothing is written or claimed', () => {
    const holder = permanent('100', { customerAccounts: ['ABT-1'] });
    const other = permanent('200', { version: 4 });
    const add = addAccount('200', 'ABT-1');

    const decided = given(holder, other).withOwnClaims().when(add);

    expect(decided.result(add)).toMatchObject({ status: 'REJECTED', code: 'ACCOUNT_TAKEN', customerNumber: '200', version: 4 });
    expect(decided.decision.writes).toEqual([]);
    expect(decided.claims.accounts).toEqual({ take: [], release: [] });
  });

  it('given a stale claim (its owner no longer holds the value, older than the lease), then it is taken over with staleOwner set', () => {
    const formerOwner = permanent('100', { email: null });
    const creation = create({ email: 'kari@example.com' });
    const link = addAccount('200', 'ABT-9');

    const decided = given(formerOwner, permanent('200'))
      .emailClaim('kari@example.com', '100', oldClaim)
      .accountClaim('ABT-9', '999', oldClaim) // its owner is gone altogether
      .withNumbers('2000001')
      .when(creation, link);

    expect(decided.result(creation)).toMatchObject({ status: 'ACCEPTED', customerNumber: '2000001' });
    expect(decided.result(link)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(decided.claims.emails).toEqual({ take: [{ _id: claimOfValue('kari@example.com'), customerNumber: '2000001', staleOwner: '100' }], release: [] });
    expect(decided.claims.accounts).toEqual({ take: [{ _id: claimOfAccount('ABT-9'), customerNumber: '200', staleOwner: '999' }], release: [] });
  });

  it('given a claim whose owner does not hold the value yet but is within the lease (its write may be on its way), then it still blocks', () => {
    const creation = create({ email: 'kari@example.com' });
    const link = addAccount('200', 'ABT-9');

    const decided = given(permanent('100'), permanent('200'))
      .emailClaim('kari@example.com', '100', youngClaim)
      .accountClaim('ABT-9', '999', youngClaim)
      .when(creation, link);

    expect(decided.result(creation)).toMatchObject({ status: 'REJECTED', code: 'EMAIL_TAKEN' });
    expect(decided.result(link)).toMatchObject({ status: 'REJECTED', code: 'ACCOUNT_TAKEN', version: 1 });
    expect(decided.decision.writes).toEqual([]);
    expect(decided.claims).toEqual({ emails: { take: [], release: [] }, accounts: { take: [], release: [] } });
  });
});

describe('replays: every outcome is decided once', () => {
  it('given a stored result, then the command is answered with exactly that result, decided nowhere, and nothing relayed for it (stored once its change went out)', () => {
    const change = update('100', { surname: 'Hansen' });
    const stored = accepted(change, { customerNumber: '100', version: 7 });

    const decided = given(permanent('100')).stored(change, stored).when(change);

    expect(decided.loose).toEqual([{ key: keyOf(change), order: 0, result: stored, trace: newTrace }]);
    expect(decided.loose[0]!.result).toBe(stored);
    expect(decided.decision).toMatchObject({ writes: [], relay: [], reservations: [], definitions: [] });
  });

  it('given a stored rejection, then a redelivery is rejected again even though it would now be accepted', () => {
    const set = setPreference('100', 'seat', 'window');
    const stored = rejected(set, 'PREFERENCE_NOT_DEFINED', 1);

    const decided = given(permanent('100')).defined('seat').stored(set, stored).when(set);

    expect(decided.result(set)).toBe(stored);
    expect(decided.decision.writes).toEqual([]);
  });

  it('given a change the profile already holds in pending (applied before a crash), then it is not applied again and the profile is relayed', () => {
    const change = update('100', { surname: 'Hansen' });
    const doc = holding(permanent('100', { surname: 'Hansen', version: 2 }), change);

    const decided = given(doc).when(change);

    expect(decided.decision).toMatchObject({ writes: [], results: [] });
    expect(decided.decision.relay).toEqual([doc]);
  });

  it('given a change held in pending and a new command after it, then only the new one is applied, on top of the held state', () => {
    const change = update('100', { surname: 'Hansen' });
    const next = update('100', { firstName: 'Ola' });
    const doc = holding(permanent('100', { surname: 'Hansen', version: 2 }), change);

    const decided = given(doc).when(change, next);

    expect(decided.write('100').expectedVersion).toBe(2);
    expect(decided.entries('100').map((entry) => entry.commandId)).toEqual([change.commandId, next.commandId]);
    expect(decided.events('100')).toMatchObject([{ eventType: 'UPDATED', version: 3, profile: { surname: 'Hansen', firstName: 'Ola' } }]);
    expect(decided.decision.relay.map((relayed) => relayed._id)).toEqual(['100']);
    expect(decided.decision.relay[0]).toBe(decided.write('100').doc);
  });

  it('given a message validation refused, then it is answered REJECTED with its code, key and place', () => {
    const message = refused('INVALID_COMMAND', 'payload.surname: must not be empty', { customerNumber: '100' });
    const change = update('100', { surname: 'Hansen' });

    const decided = given(permanent('100')).when(change, message);

    expect(decided.loose).toEqual([
      {
        key: 'client-key',
        order: 1,
        trace: newTrace,
        result: {
          commandId: message.meta.commandId,
          correlationId: message.correlationId,
          clientName: message.clientName,
          organisationId: 1,
          customerNumber: '100',
          commandType: 'UpdateProfile',
          status: 'REJECTED',
          code: 'INVALID_COMMAND',
          message: 'payload.surname: must not be empty',
          version: null,
          processedAt: nowIso,
        },
      },
    ]);
  });

  it('given the same command twice in one step (a client retry) after an outcome without effect, then the copy gets the same outcome and no effect', () => {
    // SPEC §3.3: a redelivered command gets the same result again and has no second effect.
    const set = setPreference('100', 'seat', 'window');
    const define = definePreference('seat');
    const copy = { ...set };

    const decided = given(permanent('100')).when(set, define, copy);

    expect(decided.result(define)).toMatchObject({ status: 'ACCEPTED' });
    // Each copy may be answered, but never otherwise than the first, and the copy changes nothing.
    expect(decided.outcomes(set).map(({ status, code }) => ({ status, code }))).toEqual(decided.outcomes(set).map(() => ({ status: 'REJECTED', code: 'PREFERENCE_NOT_DEFINED' })));
    expect(decided.allEvents).toEqual([]);
  });
});

describe('creations and reserved numbers', () => {
  it('given a creation without a reservation, then it takes the next number and reserves it', () => {
    const creation = create({ email: 'kari@example.com' });

    const decided = given().withNumbers('2000001').when(creation);

    expect(decided.decision.reservations).toEqual([{ _id: commandKey(1, creation.commandId), customerNumber: '2000001', resultKey: keyOf(creation) }]);
    expect(decided.write('2000001').expectedVersion).toBeNull();
    expect(decided.events('2000001')).toMatchObject([{ eventType: 'CREATED', version: 1, customerNumber: '2000001', profile: { uuid: `uuid${'1'.padStart(28, '0')}`, createdAt: nowIso } }]);
    expect(decided.result(creation)).toMatchObject({ status: 'ACCEPTED', customerNumber: '2000001', version: 1 });
  });

  it('given a creation with a reserved number (an earlier attempt), then it reuses the number and reserves none', () => {
    const creation = createTemporary();

    const decided = given().reserved(creation, '1999999').withNumbers().when(creation);

    expect(decided.decision.reservations).toEqual([]);
    expect(decided.result(creation)).toMatchObject({ status: 'ACCEPTED', customerNumber: '1999999', version: 1 });
    expect(decided.events('1999999')).toMatchObject([{ eventType: 'CREATED', profile: { profileType: 'T' } }]);
  });

  it('given a creation whose reserved number holds its profile, without its entry or a stored result, then it is answered as created (version 1), not left unanswered', () => {
    const creation = create();

    const decided = given(permanent('1999999', { version: 3 })).reserved(creation, '1999999').withNumbers().when(creation);

    expect(decided.decision.writes).toEqual([]);
    expect(decided.loose.map(({ result }) => result)).toEqual([expect.objectContaining({ commandId: creation.commandId, status: 'ACCEPTED', customerNumber: '1999999', version: 1 })]);
  });

  it('given a creation whose earlier attempt claimed its email for the reserved number, then the claim is its own, not taken', () => {
    const creation = create({ email: 'kari@example.com' });

    const decided = given().reserved(creation, '1999999').emailClaim('kari@example.com', '1999999', youngClaim).when(creation);

    expect(decided.result(creation)).toMatchObject({ status: 'ACCEPTED', customerNumber: '1999999' });
    expect(decided.claims.emails).toEqual({ take: [], release: [] });
  });

  it('given creations with and without reservations, then exactly those without need a number, in order; too few numbers throw', () => {
    const first = create();
    const reused = create();
    const third = createTemporary();
    const items = itemsOf([first, reused, third, update('100', { surname: 'X' })]);
    const snapshot = given(permanent('100')).reserved(reused, '1999999').snapshot();

    expect(creationsWithoutNumber(items, snapshot.commands).map((item) => item.command.commandId)).toEqual([first.commandId, third.commandId]);
    expect(() => given(permanent('100')).reserved(reused, '1999999').withNumbers('2000001').when(first, reused, third)).toThrow(/2 creations need a number, 1 given/);

    const decided = given(permanent('100')).reserved(reused, '1999999').withNumbers('2000001', '2000002').when(first, reused, third);
    expect([first, reused, third].map((creation) => decided.result(creation).customerNumber)).toEqual(['2000001', '1999999', '2000002']);
    expect(decided.decision.reservations.map((reservation) => reservation.customerNumber)).toEqual(['2000001', '2000002']);
  });

  it('given the same creation twice in one step (a producer retry), then one profile and one reservation for it', () => {
    const creation = create();
    const copy = { ...creation };

    const decided = given().withNumbers('2000001', '2000002').when(creation, copy);

    expect(decided.decision.writes).toHaveLength(1);
    // Two reservations under one command key collide with each other in the `commands` collection.
    expect(decided.decision.reservations).toHaveLength(1);
    // Each message is answered, the copy as the first: the same number, the same version.
    const outcomes = decided.outcomes(creation);
    expect(outcomes).toHaveLength(2);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'ACCEPTED', customerNumber: decided.decision.reservations[0]!.customerNumber, version: 1 });
  });
});

describe('merges next to concurrent commands', () => {
  it('given a temporary and a permanent profile, then the merge marks the temporary and writes the permanent at its version with MERGED and DELETED', () => {
    const t = temporary('300', { version: 2, customerAccounts: ['ABT-3'] });
    const p = permanent('100', { version: 5 });
    const command = merge('300', '100');

    const step = given(t, p).whenMerge(command);

    if (step.kind !== 'merge') throw new Error(`expected a merge, got ${step.kind}`);
    expect(step.mark).toBe(true);
    expect(step.temporary).toBe(t);
    expect(step.write.expectedVersion).toBe(5);
    expect(step.write.doc).toMatchObject({ _id: '100', version: 6, relatedCustomerNumbers: ['300'], customerAccounts: ['ABT-3'] });
    const [entry] = entriesOf(step.write.doc);
    expect(entry?.events).toMatchObject([
      { eventType: 'MERGED', customerNumber: '100', version: 6, profile: { relatedCustomerNumbers: ['300'] } },
      { eventType: 'DELETED', reason: 'MERGED', customerNumber: '300', version: 3, mergedInto: '100', profile: null },
    ]);
    expect(entry?.result).toMatchObject({ status: 'ACCEPTED', customerNumber: '300', version: 3 });
    expect(step.write.expectedVersion).toBe(5);
  });

  it('given the temporary profile marked by an earlier attempt of this merge, then it is not marked again', () => {
    const step = given(temporary('300', { mergingInto: '100' }), permanent('100')).whenMerge(merge('300', '100'));

    expect(step).toMatchObject({ kind: 'merge', mark: false });
  });

  it('given a temporary profile being merged into another profile, then CUSTOMER_NOT_FOUND and its mark is left alone', () => {
    const command = merge('300', '100');

    const step = given(temporary('300', { mergingInto: '200' }), permanent('100'), permanent('200')).whenMerge(command);

    expect(step).toMatchObject({ kind: 'rejected', unmark: null, result: { result: { status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND', customerNumber: '300', version: null } } });
  });

  it('given an accepted merge replayed while the temporary profile is still marked, then the stored result and the merge is finished', () => {
    const command = merge('300', '100');
    const stored = accepted(command, { customerNumber: '300', version: 2 });
    const t = temporary('300', { mergingInto: '100' });

    const step = given(t, permanent('100', { version: 2, relatedCustomerNumbers: ['300'] })).stored(command, stored).whenMerge(command);

    expect(step).toEqual({ kind: 'replayed', result: { key: keyOf(command), order: 0, result: stored, trace: newTrace }, finish: t, unmark: null });
  });

  it('given a refused merge replayed while its own mark is still on the temporary profile, then the stored result and the mark is cleared', () => {
    const command = merge('300', '100');
    const stored = rejected(command, 'CUSTOMER_DEACTIVATED', 3);

    const step = given(temporary('300', { version: 3, mergingInto: '100' }), permanent('100', { status: 'D' })).stored(command, stored).whenMerge(command);

    expect(step).toEqual({ kind: 'replayed', result: { key: keyOf(command), order: 0, result: stored, trace: newTrace }, finish: null, unmark: { customerNumber: '300', version: 3, permanentNumber: '100' } });
  });

  it('given its own mark and a permanent profile deactivated meanwhile, then the merge is refused and the mark cleared', () => {
    const step = given(temporary('300', { version: 3, mergingInto: '100' }), permanent('100', { status: 'D' })).whenMerge(merge('300', '100'));

    expect(step).toMatchObject({ kind: 'rejected', result: { result: { code: 'CUSTOMER_DEACTIVATED' } }, unmark: { customerNumber: '300', version: 3, permanentNumber: '100' } });
  });

  it('given a temporary profile being merged, then decideBatch treats it as gone for every other command', () => {
    const change = updateTemporary('300', { firstName: 'Tor' });
    const link = addAccount('300', 'ABT-5');

    const decided = given(temporary('300', { mergingInto: '100' }), permanent('100')).when(change, link);

    expect(decided.result(change)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND', version: null });
    expect(decided.result(link)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND', version: null });
    expect(decided.decision.writes).toEqual([]);
    expect(decided.claims.accounts.take).toEqual([]);
  });
});

describe('outcomes without an effect, then a change on the same key', () => {
  it('given a no-op then a change on one profile, then the no-op is held and written inside the change, before it', () => {
    const noOp = update('100', { firstName: 'Kari' });
    const change = update('100', { surname: 'Hansen' });

    const decided = given(permanent('100')).when(noOp, change);

    expect(decided.loose).toEqual([]);
    expect(decided.newEntries('100')).toMatchObject([
      { commandId: noOp.commandId, resultKey: keyOf(noOp), events: [], result: { status: 'ACCEPTED', message: 'no change', version: 1 } },
      { commandId: change.commandId, events: [{ eventType: 'UPDATED', version: 2 }], result: { status: 'ACCEPTED', version: 2 } },
    ]);
  });

  it('given a no-op with no change after it, then its result is loose', () => {
    const noOp = update('100', { firstName: 'Kari' });

    const decided = given(permanent('100')).when(noOp);

    expect(decided.decision.writes).toEqual([]);
    expect(decided.loose).toMatchObject([{ key: keyOf(noOp), order: 0, result: { status: 'ACCEPTED', message: 'no change', version: 1 } }]);
  });

  it('given a rejection then a change on one profile, then the rejection is held inside the change too', () => {
    const refusedSet = setPreference('100', 'seat', 'window');
    const change = update('100', { surname: 'Hansen' });

    const decided = given(permanent('100')).when(refusedSet, change);

    expect(decided.isLoose(refusedSet)).toBe(false);
    expect(decided.newEntries('100')).toMatchObject([
      { commandId: refusedSet.commandId, events: [], result: { status: 'REJECTED', code: 'PREFERENCE_NOT_DEFINED', version: 1 } },
      { commandId: change.commandId, events: [{ version: 2 }] },
    ]);
  });

  it('given several changes to one profile, then one write at the version decided on, with events 2, 3, 4 in order', () => {
    const commands = [update('100', { surname: 'A' }), addAccount('100', 'ABT-1'), update('100', { surname: 'B' })];

    const decided = given(permanent('100')).when(...commands);

    expect(decided.decision.writes).toHaveLength(1);
    expect(decided.write('100').expectedVersion).toBe(1);
    expect(decided.write('100').doc).toMatchObject({ version: 4, surname: 'B', customerAccounts: ['ABT-1'] });
    expect(decided.events('100').map((event) => [event.eventType, event.version, event.commandId])).toEqual(commands.map((command, index) => ['UPDATED', index + 2, command.commandId]));
    expect(commands.map((command) => decided.result(command).version)).toEqual([2, 3, 4]);
    // Each event shows the profile as its own change left it (not the last one's).
    expect(decided.events('100').map((event) => [event.version, event.profile?.surname, event.profile?.customerAccounts])).toEqual([
      [2, 'A', []],
      [3, 'A', ['ABT-1']],
      [4, 'B', ['ABT-1']],
    ]);
  });

  it('given a command of another organisation on the profile, then its outcome is loose (CUSTOMER_NOT_FOUND), never inside the profile', () => {
    const foreign = update('100', { surname: 'X' }, { organisationId: 2 });
    const change = update('100', { surname: 'Hansen' });

    const decided = given(permanent('100')).when(foreign, change);

    expect(decided.isLoose(foreign)).toBe(true);
    expect(decided.result(foreign)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND', organisationId: 2, version: null });
    expect(decided.entries('100').map((entry) => entry.commandId)).toEqual([change.commandId]);
  });
});

describe('preference definitions', () => {
  it('given DefinePreference then SetPreference in one step, then the set uses the new definition; a set before it does not', () => {
    const early = setPreference('100', 'assistance', 'wheelchair');
    const define = definePreference('assistance', ['wheelchair', 'guide']);
    const set = setPreference('100', 'assistance', 'wheelchair');
    const notAllowed = setPreference('100', 'assistance', 'jetpack');

    const decided = given(permanent('100')).when(early, define, set, notAllowed);

    expect(decided.result(early)).toMatchObject({ status: 'REJECTED', code: 'PREFERENCE_NOT_DEFINED' });
    expect(decided.result(define)).toMatchObject({ status: 'ACCEPTED', customerNumber: null });
    expect(decided.result(set)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(decided.result(notAllowed)).toMatchObject({ status: 'REJECTED', code: 'PREFERENCE_VALUE_NOT_ALLOWED', version: 2 });
    expect(decided.events('100')).toMatchObject([{ eventType: 'UPDATED', version: 2, profile: { preferences: [{ key: 'assistance', value: 'wheelchair' }] } }]);
    expect(decided.decision.definitions).toEqual([{ organisationId: 1, key: 'assistance', description: null, allowedValues: ['wheelchair', 'guide'] }]);
  });
});

describe('trace context (W3C traceparent)', () => {
  const commandTrace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const traceIdOf = (traceparent: string | undefined) => traceparent?.split('-')[1];
  const parentIdOf = (traceparent: string | undefined) => traceparent?.split('-')[2];

  it('given a command with a traceparent, then its result and its event are sent in its trace, under a new parent id', () => {
    const change = update('1000001', { firstName: 'Ola' });

    const decided = given(permanent('1000001')).when(traced(change, commandTrace));

    const [entry] = decided.newEntries('1000001');
    expect(entry?.events).toHaveLength(1);
    expect(traceIdOf(entry?.trace?.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(parentIdOf(entry?.trace?.traceparent)).not.toBe('00f067aa0ba902b7');
    expect(entry?.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('given a rejected command with a traceparent and one without, then the first result continues its trace and the second starts a new one', () => {
    const missing = update('1000009', { firstName: 'Ola' });
    const untraced = update('1000008', { firstName: 'Kari' });

    const decided = given().when(traced(missing, commandTrace), untraced);

    const [first, second] = decided.loose;
    expect(first?.result).toMatchObject({ commandId: missing.commandId, code: 'CUSTOMER_NOT_FOUND' });
    expect(traceIdOf(first?.trace?.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(second?.trace?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(traceIdOf(second?.trace?.traceparent)).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('given a merge with a traceparent, then its result and both its events are sent in its trace', () => {
    const command = merge('1000002', '1000001');

    const step = given(permanent('1000001'), temporary('1000002')).whenMerge(command, commandTrace);

    if (step.kind !== 'merge') throw new Error(`expected a merge, got ${step.kind}`);
    const [entry] = entriesOf(step.write.doc);
    expect(entry?.events.map((event) => event.eventType)).toEqual(['MERGED', 'DELETED']);
    expect(traceIdOf(entry?.trace?.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});

describe('what the scheduler is told', () => {
  const undatedOf = (doc: Parameters<typeof entriesOf>[0]) => entriesOf(doc).map((entry) => [entry.events[0]?.version, entry.undated ?? false]);

  it('given changes that involve no erasure date, before or after, then their entries send the scheduler nothing', () => {
    const created = create();
    const decided = given(permanent('100')).withNumbers('2000001').when(update('100', { surname: 'A' }), addAccount('100', 'ABT-1'), created);
    expect(undatedOf(decided.write('100').doc)).toEqual([
      [2, true],
      [3, true],
    ]);
    expect(undatedOf(decided.write('2000001').doc)).toEqual([[1, true]]);
  });

  it('given changes that set, keep, move or clear a date, then each of their entries tells the scheduler', () => {
    const dueAt = isoAfter(now, 86_400);
    const decided = given(permanent('100'), temporary('200')).withNumbers('2000001').when(
      command('DeactivateCustomer', { ...actor, expirationDate: dueAt }, '100'),
      command('RestoreCustomer', actor, '100'),
      update('100', { surname: 'After' }),
      updateTemporary('200', { expirationDate: dueAt }),
      addAccount('200', 'ABT-2'),
      command('ConvertToPermanent', { ...actor, firstName: 'Now', surname: 'Permanent' }, '200'),
      createTemporary(),
    );
    // Deactivated (a date), restored (the date cleared: its job goes), then a change with no date on either side.
    expect(undatedOf(decided.write('100').doc)).toEqual([
      [2, false],
      [3, false],
      [4, true],
    ]);
    expect(undatedOf(decided.write('200').doc)).toEqual([
      [2, false],
      [3, false],
      [4, false],
    ]);
    expect(undatedOf(decided.write('2000001').doc)).toEqual([[1, false]]);
  });
});
