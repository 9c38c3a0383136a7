import { afterEach, describe, expect, it } from 'vitest';
import { startCrashingWorker } from '../helpers/crashing.ts';
import { actor, commandJson, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';
import { changedEvent } from '../../shared/customers/events.ts';
import { makeProfileStore } from '../../workers/profile/store.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { commandKey, packEntry } from '../../shared/outbox.ts';
import type { ScheduleRecord } from '../../shared/expiry.ts';
import { readToEnd } from '../helpers/topicReader.ts';
import { toProfile, type ProfileDoc } from '../../shared/customers/document.ts';

/** Redelivery, order, concurrency and crashes: one effect per command, events in version order. */
describe('profile worker: delivery guarantees', () => {
  let harness: ProfileHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const versionsOf = (h: ProfileHarness, customerNumber: string) => h.eventsOf(customerNumber).map((event) => event.version);
  /** The result stored for a command of organisation 1 (the mark that its entry went out), or null. */
  const storedResult = async (h: ProfileHarness, commandId: string) => (await makeProfileStore(h.mongo, { claimKey: makeClaimKey(h.config.claimKeySecret) }).findCommands([commandKey(1, commandId)])).get(commandKey(1, commandId))?.result ?? null;

  it('a command sent twice has one effect and gets the same result again', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const create = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });
    await h.send(create);
    const first = await h.result(create['commandId'] as string);
    const update = commandJson('UpdateProfile', { ...actor, surname: 'C' }, { customerNumber: first.customerNumber });
    await h.send(update);
    await h.result(update['commandId'] as string);
    // Both again, after another change moved the profile on.
    await h.send(commandJson('UpdateProfile', { ...actor, surname: 'D' }, { customerNumber: first.customerNumber }));
    await h.send(create);
    await h.send(update);
    await waitFor('second results', () => h.resultsFor(create['commandId'] as string).length === 2 && h.resultsFor(update['commandId'] as string).length === 2);

    const [a, b] = h.resultsFor(create['commandId'] as string).map((result) => result.value);
    expect(b).toEqual(a);
    const [c, d] = h.resultsFor(update['commandId'] as string).map((result) => result.value);
    expect(d).toEqual(c);
    expect(d).toMatchObject({ version: 2 });
    expect(await h.mongo.db.collection('profiles').countDocuments({ createdBy: 'agent-7' })).toBe(1);
    await waitFor('three events', () => versionsOf(h, first.customerNumber!).length >= 3);
    expect(versionsOf(h, first.customerNumber!)).toEqual([1, 2, 3]);
  });

  it('the scheduler hears of the changes that set, keep or clear an erasure date, and of no other', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const run = async (command: Record<string, unknown>) => {
      await h.send(command);
      return h.result(command['commandId'] as string);
    };
    const permanentNumber = (await run(commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }))).customerNumber!;
    await run(commandJson('UpdateProfile', { ...actor, surname: 'C' }, { customerNumber: permanentNumber }));
    await run(commandJson('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), 86_400) }, { customerNumber: permanentNumber }));
    await run(commandJson('RestoreCustomer', actor, { customerNumber: permanentNumber }));
    await run(commandJson('UpdateProfile', { ...actor, surname: 'D' }, { customerNumber: permanentNumber }));
    const temporaryNumber = (await run(commandJson('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 86_400) }))).customerNumber!;

    const records = (await readToEnd(h.kafka, [h.names.expirations])).map(({ message }) => JSON.parse(message.value!.toString('utf8')) as ScheduleRecord);
    const told = (customerNumber: string) => records.filter((record) => record.customerNumber === customerNumber).map((record) => [record.version, record.dueAt !== null]);
    expect(told(permanentNumber)).toEqual([
      [3, true],
      [4, false],
    ]);
    expect(told(temporaryNumber)).toEqual([[1, true]]);
  });

  it('same-key commands take effect in order and their events come in version order without gaps', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const create = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });
    await h.send(create);
    const customer = (await h.result(create['commandId'] as string)).customerNumber!;
    const updates = Array.from({ length: 40 }, (_, index) => commandJson('UpdateProfile', { ...actor, surname: `S${index}` }, { customerNumber: customer }));
    await h.sendMany(updates);
    await waitFor('41 events', () => versionsOf(h, customer).length >= 41);
    expect(versionsOf(h, customer)).toEqual(Array.from({ length: 41 }, (_, index) => index + 1));
    const last = h.eventsOf(customer).at(-1)!;
    expect(last.profile!.surname).toBe('S39');
    for (const [index, update] of updates.entries()) expect((await h.result(update['commandId'] as string)).version).toBe(index + 2);
  });

  it('a merge stays correct while other commands hit the permanent profile from another partition', async () => {
    harness = await startProfileHarness();
    const h = harness;
    await h.startWorker(); // two consumers in the group: partitions handled concurrently
    const run = async (command: Record<string, unknown>) => {
      await h.send(command);
      return h.result(command['commandId'] as string);
    };
    await run(commandJson('DefinePreference', { key: 'zone' }));
    const permanent = (await run(commandJson('CreateProfile', { ...creator, firstName: 'P', surname: 'P' }))).customerNumber!;
    const temporary = (await run(commandJson('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600) }))).customerNumber!;
    await run(commandJson('SetPreference', { key: 'zone', value: 'T' }, { customerNumber: temporary }));

    const updates = Array.from({ length: 30 }, (_, index) => commandJson('AddCustomerAccount', { customerAccountId: `acc-${permanent}-${index}` }, { customerNumber: permanent }));
    const merge = commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, { customerNumber: temporary });
    await Promise.all([h.sendMany(updates.slice(0, 15)), h.send(merge), h.sendMany(updates.slice(15))]);
    expect(await h.result(merge['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    for (const update of updates) expect(await h.result(update['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });

    await waitFor('all events of the permanent profile', () => versionsOf(h, permanent).length >= 32);
    expect(versionsOf(h, permanent)).toEqual(Array.from({ length: 32 }, (_, index) => index + 1));
    const final = h.eventsOf(permanent).at(-1)!.profile!;
    expect(final.relatedCustomerNumbers).toEqual([temporary]);
    expect(final.customerAccounts).toHaveLength(30);
    expect(final.preferences).toEqual([{ key: 'zone', value: 'T' }]);
  });

  describe('a worker killed (SIGKILL) mid-batch and restarted', () => {
    async function crashOnce(h: ProfileHarness, at: 'afterWrite' | 'afterProduce' | 'afterPublish', send: () => Promise<void>) {
      const { exited } = await startCrashingWorker({ worker: 'profile', at, database: h.mongo.db.databaseName, env: { PROFILES_ENV: h.config.env, KAFKA_SESSION_TIMEOUT_MS: '6000' } });
      await send();
      expect(await exited).toBe('SIGKILL');
    }

    it('between the MongoDB write and the produce: nothing is lost, nothing doubled', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const create = commandJson('CreateProfile', { ...creator, firstName: 'Crash', surname: 'Test' });
      await crashOnce(h, 'afterWrite', () => h.send(create));
      // Written but not sent: the profile holds its pending event and result.
      const written = await h.mongo.db.collection('profiles').findOne({ createdBy: 'agent-7' });
      expect(written).toMatchObject({ version: 1, pending: [expect.objectContaining({ commandId: create['commandId'] })] });
      expect(await storedResult(h, create['commandId'] as string)).toBeNull();
      expect(h.resultsFor(create['commandId'] as string)).toHaveLength(0);

      await h.startWorker();
      const result = await h.result(create['commandId'] as string, 40_000);
      expect(result).toMatchObject({ status: 'ACCEPTED', version: 1, customerNumber: written!['_id'] });
      await waitFor('the CREATED event', () => h.eventsOf(result.customerNumber!).length > 0);
      expect(await h.mongo.db.collection('profiles').countDocuments({})).toBe(1);
      await waitFor('its result stored: the mark that its entry went out', async () => (await storedResult(h, create['commandId'] as string)) !== null);
      // A later command shows the number was not taken twice and versions go on.
      const update = commandJson('UpdateProfile', { ...actor, surname: 'After' }, { customerNumber: result.customerNumber });
      await h.send(update);
      expect(await h.result(update['commandId'] as string)).toMatchObject({ version: 2 });
      await waitFor('two events', () => versionsOf(h, result.customerNumber!).length >= 2);
      expect([...new Set(h.eventsOf(result.customerNumber!).map((event) => event.eventId))]).toHaveLength(2);
      expect(h.resultsFor(create['commandId'] as string).every((received) => received.value.version === 1)).toBe(true);
    });

    /** A customer created by a worker that is then stopped, so the next batch goes to a crashing one. */
    async function customerThenStop(h: ProfileHarness, payload: Record<string, unknown>): Promise<string> {
      await h.startWorker();
      const create = commandJson('CreateProfile', { ...creator, ...payload });
      await h.send(create);
      const customer = (await h.result(create['commandId'] as string)).customerNumber!;
      await h.stopWorkers();
      return customer;
    }

    it('a no-change answer before a change of the same customer is not decided again after the crash (per-key order)', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const customer = await customerThenStop(h, { firstName: 'Same', surname: 'A' });
      const same = commandJson('UpdateProfile', { ...actor, surname: 'A' }, { customerNumber: customer });
      const change = commandJson('UpdateProfile', { ...actor, surname: 'B' }, { customerNumber: customer });
      await h.sendMany([same, change]);
      await crashOnce(h, 'afterWrite', async () => undefined);

      await h.startWorker();
      expect(await h.result(same['commandId'] as string, 40_000)).toMatchObject({ status: 'ACCEPTED', message: 'no change', version: 1 });
      expect(await h.result(change['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 2 });
      await waitFor('the UPDATED event', () => versionsOf(h, customer).length >= 2);
      expect(versionsOf(h, customer)).toEqual([1, 2]);
      expect(await h.mongo.db.collection('profiles').findOne({ _id: customer as never })).toMatchObject({ surname: 'B', version: 2 });
    });

    it('an update rejected before a restore of the same customer stays rejected after the crash', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const customer = await customerThenStop(h, { firstName: 'Gone', surname: 'A' });
      await h.startWorker();
      expect(await h.run('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), 3_600) }, customer)).toMatchObject({ status: 'ACCEPTED', version: 2 });
      await h.stopWorkers();
      const update = commandJson('UpdateProfile', { ...actor, surname: 'Late' }, { customerNumber: customer });
      const restore = commandJson('RestoreCustomer', actor, { customerNumber: customer });
      await h.sendMany([update, restore]);
      await crashOnce(h, 'afterWrite', async () => undefined);

      await h.startWorker();
      expect(await h.result(update['commandId'] as string, 40_000)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_DEACTIVATED', version: 2 });
      expect(await h.result(restore['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 3 });
      await waitFor('the RESTORED event', () => versionsOf(h, customer).length >= 3);
      expect(versionsOf(h, customer)).toEqual([1, 2, 3]);
      expect(await h.mongo.db.collection('profiles').findOne({ _id: customer as never })).toMatchObject({ surname: 'A', status: 'A', version: 3 });
    });

    it('a rejection of a temporary profile before its merge stays the same after a crash after the merge', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const permanent = await customerThenStop(h, { firstName: 'P', surname: 'P' });
      await h.startWorker();
      const temporary = (await h.run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600) })).customerNumber!;
      await h.stopWorkers();
      const wrongType = commandJson('UpdateProfile', { ...actor, surname: 'X' }, { customerNumber: temporary });
      const merge = commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, { customerNumber: temporary });
      await h.sendMany([wrongType, merge]);
      await crashOnce(h, 'afterWrite', async () => undefined);

      await h.startWorker();
      expect(await h.result(merge['commandId'] as string, 40_000)).toMatchObject({ status: 'ACCEPTED' });
      await waitFor('both answers of the redelivery', () => h.resultsFor(wrongType['commandId'] as string).length >= 1);
      expect(new Set(h.resultsFor(wrongType['commandId'] as string).map((received) => received.value.code))).toEqual(new Set(['NOT_PERMANENT']));
    });

    it('a merge refused before a restore of the same temporary profile stays refused after a crash', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const permanent = await customerThenStop(h, { firstName: 'P', surname: 'P' });
      await h.startWorker();
      const temporary = (await h.run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600) })).customerNumber!;
      await h.run('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), 3_600) }, temporary);
      await h.stopWorkers();
      const merge = commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, { customerNumber: temporary });
      const restore = commandJson('RestoreCustomer', actor, { customerNumber: temporary });
      await h.sendMany([merge, restore]);
      await crashOnce(h, 'afterWrite', async () => undefined);

      await h.startWorker();
      expect(await h.result(restore['commandId'] as string, 40_000)).toMatchObject({ status: 'ACCEPTED', version: 3 });
      await waitFor('the redelivered answers', () => h.resultsFor(restore['commandId'] as string).length >= 1 && h.resultsFor(merge['commandId'] as string).length >= 1);
      expect(new Set(h.resultsFor(merge['commandId'] as string).map((received) => received.value.code))).toEqual(new Set(['CUSTOMER_DEACTIVATED']));
      expect(await h.mongo.db.collection('profiles').findOne({ _id: temporary as never })).toMatchObject({ status: 'A', version: 3 });
    });

    it('an entry of an older version, its relay step left open, goes out by the sweep and its step closes', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const customer = await customerThenStop(h, { firstName: 'Old', surname: 'A' });
      const profiles = h.mongo.db.collection<ProfileDoc>('profiles');
      // An earlier build of the suite wrote version 2 with its step, stored the result first and stopped before its produce.
      const before = toProfile((await profiles.findOne({ _id: customer }))!);
      const now = new Date().toISOString();
      const after = { ...before, surname: 'Old', version: 2, changedAt: now };
      const result = { commandId: 'old-1', correlationId: 'corr-old', clientName: 'acme-ticketshop', organisationId: 1, customerNumber: customer, commandType: 'UpdateProfile', status: 'ACCEPTED' as const, code: null, message: null, version: 2, processedAt: now };
      const entry = { ...packEntry({ commandId: 'old-1', resultKey: `1:${customer}`, result, events: [changedEvent(after, 'UPDATED', { commandId: 'old-1', correlationId: 'corr-old', actor: null }, now)] }), step: 'old-step' };
      expect((await profiles.replaceOne({ _id: customer, version: 1 }, { ...after, pending: [entry] })).matchedCount).toBe(1);
      await h.mongo.db.collection('relaySteps').insertOne({ _id: 'old-step' as never, profiles: [customer], at: new Date(Date.now() - 120_000) });
      await makeProfileStore(h.mongo, { claimKey: makeClaimKey(h.config.claimKeySecret) }).putResults([{ _id: commandKey(1, 'old-1'), result, resultKey: `1:${customer}` }]);

      await h.startWorker(); // its start-up sweep finds the step stale
      expect(await h.result('old-1', 40_000)).toMatchObject({ status: 'ACCEPTED', version: 2 });
      await waitFor('the UPDATED event', () => versionsOf(h, customer).length >= 2);
      await waitFor('the step closed', async () => (await h.mongo.db.collection('relaySteps').countDocuments({})) === 0);
      expect(await h.run('UpdateProfile', { ...actor, surname: 'Next' }, customer)).toMatchObject({ status: 'ACCEPTED', version: 3 });
      await waitFor('three events', () => versionsOf(h, customer).length >= 3);
      expect(versionsOf(h, customer)).toEqual([1, 2, 3]);
    });

    it('after the produce, before its results are stored: the redelivery sends the change again, applies it once, and marks it sent', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const create = commandJson('CreateProfile', { ...creator, firstName: 'Crash', surname: 'Produced' });
      await crashOnce(h, 'afterProduce', () => h.send(create));
      const first = await h.result(create['commandId'] as string);
      expect(await storedResult(h, create['commandId'] as string)).toBeNull();

      await h.startWorker();
      await waitFor('the redelivered result', () => h.resultsFor(create['commandId'] as string).length >= 2, { timeoutMs: 40_000 });
      expect(h.resultsFor(create['commandId'] as string).map((received) => received.value)).toEqual([first, first]);
      await waitFor('its result stored', async () => (await storedResult(h, create['commandId'] as string)) !== null);
      expect(await h.mongo.db.collection('profiles').countDocuments({})).toBe(1);
      expect(new Set(versionsOf(h, first.customerNumber!))).toEqual(new Set([1]));
      // Marked sent: the next write of the profile does not send it a third time.
      expect(await h.run('UpdateProfile', { ...actor, surname: 'After' }, first.customerNumber!)).toMatchObject({ version: 2 });
      await waitFor('the UPDATED event', () => versionsOf(h, first.customerNumber!).includes(2));
      expect(h.resultsFor(create['commandId'] as string)).toHaveLength(2);
    });

    it('after the produce, before the offset commit: redelivered, answered the same, applied once', async () => {
      harness = await startProfileHarness({ startWorker: false });
      const h = harness;
      const create = commandJson('CreateProfile', { ...creator, firstName: 'Crash', surname: 'Late' });
      await crashOnce(h, 'afterPublish', () => h.send(create));
      const first = await h.result(create['commandId'] as string);

      await h.startWorker();
      await waitFor('the redelivered result', () => h.resultsFor(create['commandId'] as string).length >= 2, { timeoutMs: 40_000 });
      const [a, b] = h.resultsFor(create['commandId'] as string).map((received) => received.value);
      expect(b).toEqual(a);
      expect(a).toEqual(first);
      expect(await h.mongo.db.collection('profiles').countDocuments({})).toBe(1);
      const versions = versionsOf(h, first.customerNumber!);
      expect(new Set(versions)).toEqual(new Set([1]));
    });
  });
});

describe('profile worker: batches that mix related commands', () => {
  let harness: ProfileHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('an expiration date is judged at the time the command was sent, so a redelivery after the date is the same command', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const sentAt = new Date(Date.now() - 60_000);
    // Sent a minute ago with a date 30 s after that: in the past now, not when it was sent.
    const late = commandJson('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(sentAt, 30) });
    await h.send(late, { sentAt });
    expect(await h.result(late['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 1 });
    const past = commandJson('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(sentAt, 30) });
    await h.send(past);
    expect(await h.result(past['commandId'] as string)).toMatchObject({ status: 'REJECTED', code: 'EXPIRATION_IN_PAST' });
  });

  it('a creation retried after it took its email claim and stopped before writing the profile gets its own number, not EMAIL_TAKEN', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const create = commandJson('CreateProfile', { ...creator, firstName: 'Half', surname: 'Done', email: 'half.done@example.com' });
    // What the interrupted attempt left: the number reserved, the email claimed for it, no profile.
    const reserved = await makeProfileStore(h.mongo, { claimKey: makeClaimKey(h.config.claimKeySecret) }).allocateNumbers(1);
    await makeProfileStore(h.mongo, { claimKey: makeClaimKey(h.config.claimKeySecret) }).reserveCreations([{ _id: commandKey(1, create['commandId'] as string), customerNumber: reserved[0]!, resultKey: '' }]);
    await h.mongo.db.collection('emailClaims').insertOne({ _id: makeClaimKey(h.config.claimKeySecret)(1, 'half.done@example.com') as never, customerNumber: reserved[0], at: new Date() });

    await h.send(create);
    expect(await h.result(create['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 1, customerNumber: reserved[0] });
    expect(await h.mongo.db.collection('profiles').findOne({ _id: reserved[0] as never })).toMatchObject({ email: 'half.done@example.com' });
  });

  it('a command decided by two processes at once (as during a rebalance) is answered with the result stored first', async () => {
    const define = commandJson('DefinePreference', { key: 'seat', allowedValues: ['window', 'aisle'] });
    const commandId = define['commandId'] as string;
    // What the other process stored while this one was deciding: the same answer, decided earlier.
    const theirs = {
      commandId, correlationId: 'corr-theirs', clientName: 'acme-ticketshop', organisationId: 1, customerNumber: null,
      commandType: 'DefinePreference', status: 'ACCEPTED', code: null, message: null, version: null, processedAt: '2026-01-01T00:00:00.000Z',
    };
    const storeTheirs = async () => {
      await harness!.mongo.db.collection('commands').insertOne({ _id: commandKey(1, commandId) as never, result: theirs, resultKey: commandId, at: new Date() }).catch(() => undefined);
    };
    harness = await startProfileHarness({ workerOverrides: { hooks: { afterWrite: storeTheirs } } });
    const h = harness;
    await h.send(define);
    expect(await h.result(commandId)).toEqual(theirs);
    await h.send(define);
    await waitFor('the redelivered result', () => h.resultsFor(commandId).length >= 2);
    expect(h.resultsFor(commandId).map((received) => received.value)).toEqual([theirs, theirs]);
  });

  it('deactivate and restore of one customer in one batch: both applied, the email kept, the partition goes on', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const create = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B', email: `mix-${Date.now()}@example.com` });
    await h.send(create);
    const customer = (await h.result(create['commandId'] as string)).customerNumber!;
    const deactivate = commandJson('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), 3_600) }, { customerNumber: customer });
    const restore = commandJson('RestoreCustomer', actor, { customerNumber: customer });
    const after = commandJson('UpdateProfile', { ...actor, surname: 'C' }, { customerNumber: customer });
    await h.sendMany([deactivate, restore, after]);
    expect(await h.result(deactivate['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(await h.result(restore['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 3, message: null });
    expect(await h.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED', version: 4 });
  });

  it('a merge interrupted after it marked the temporary profile, then refused, leaves the temporary profile usable', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const permanent = (await h.run('CreateProfile', { ...creator, firstName: 'P', surname: 'P' })).customerNumber!;
    const temporary = (await h.run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600), email: `tmp-${Date.now()}@example.com` })).customerNumber!;
    // What an attempt that stopped right after its first write left: the mark, nothing else.
    await h.mongo.db.collection('profiles').updateOne({ _id: temporary as never }, { $set: { mergingInto: permanent } });
    expect(await h.run('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), 3_600) }, permanent)).toMatchObject({ status: 'ACCEPTED' });

    expect(await h.run('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, temporary)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_DEACTIVATED' });
    expect(await h.run('UpdateTemporaryProfile', { ...actor, expirationDate: isoAfter(new Date(), 7_200), firstName: 'Still' }, temporary)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(await h.mongo.db.collection('profiles').findOne({ _id: temporary as never })).not.toHaveProperty('mergingInto');
  });

  it('a command whose Kafka key is over 1 KiB is answered LIMIT_EXCEEDED, without the key, and the partition goes on', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const create = commandJson('CreateProfile', { ...creator, firstName: 'Long', surname: 'Key' });
    await h.send(create, { key: `k${'x'.repeat(2_000)}` });
    const answer = await waitFor('the answer', () => h.resultsFor(create['commandId'] as string)[0]);
    expect(answer.value).toMatchObject({ status: 'REJECTED', code: 'LIMIT_EXCEEDED', message: 'Kafka key: at most 1024 bytes' });
    expect(answer.key).toBeNull();
    expect(await h.run('CreateProfile', { ...creator, firstName: 'After', surname: 'It' })).toMatchObject({ status: 'ACCEPTED' });
  });

  it('a backlog of 250 commands on one customer is written in steps of at most 25, so its document stays bounded', async () => {
    const pendingSizes: number[] = [];
    let customer = '';
    const measure = async () => {
      const doc = customer ? await harness!.mongo.db.collection<ProfileDoc>('profiles').findOne({ _id: customer }) : null;
      if (doc) pendingSizes.push(doc.pending.length);
    };
    harness = await startProfileHarness({ startWorker: false });
    const h = harness;
    await h.startWorker();
    const create = commandJson('CreateProfile', { ...creator, firstName: 'Busy', surname: 'S' });
    await h.send(create);
    customer = (await h.result(create['commandId'] as string)).customerNumber!;
    await h.stopWorkers();
    const updates = Array.from({ length: 250 }, (_, index) => commandJson('UpdateProfile', { ...actor, surname: `S${index}` }, { customerNumber: customer }));
    await h.sendMany(updates);
    await h.startWorker({ hooks: { afterWrite: measure } });

    const versions = () => h.eventsOf(customer).map((event) => event.version);
    await waitFor('251 events', () => versions().length >= 251, { timeoutMs: 50_000 });
    expect(versions()).toEqual(Array.from({ length: 251 }, (_, index) => index + 1));
    expect(pendingSizes.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...pendingSizes)).toBeLessThanOrEqual(25);
    expect(pendingSizes.length).toBeGreaterThanOrEqual(10);
  });

  it('a merge refused by another process while this one had marked the temporary profile: the replay clears the mark', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const permanent = (await h.run('CreateProfile', { ...creator, firstName: 'P', surname: 'P' })).customerNumber!;
    const temporary = (await h.run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3_600) })).customerNumber!;
    const merge = commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, { customerNumber: temporary });
    // This process marked it and lost its write; the other one refused the merge and stored that.
    await h.mongo.db.collection('profiles').updateOne({ _id: temporary as never }, { $set: { mergingInto: permanent } });
    const refused = {
      commandId: merge['commandId'], correlationId: 'corr-other', clientName: 'acme-ticketshop', organisationId: 1, customerNumber: temporary,
      commandType: 'MergeTemporaryProfile', status: 'REJECTED', code: 'CUSTOMER_DEACTIVATED', message: `customer ${permanent} is deactivated`, version: 1, processedAt: new Date().toISOString(),
    };
    await h.mongo.db.collection('commands').insertOne({ _id: commandKey(1, merge['commandId'] as string) as never, result: refused, resultKey: `1:${temporary}`, at: new Date() });

    await h.send(merge);
    expect(await h.result(merge['commandId'] as string)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_DEACTIVATED' });
    expect(await h.run('UpdateTemporaryProfile', { ...actor, expirationDate: isoAfter(new Date(), 7_200), firstName: 'Alive' }, temporary)).toMatchObject({ status: 'ACCEPTED', version: 2 });
  });

  it('the same commandId from two organisations: two commands, two profiles', async () => {
    harness = await startProfileHarness();
    const h = harness;
    const first = commandJson('CreateProfile', { ...creator, firstName: 'One', surname: 'Org' }, { commandId: 'shared-id', organisationId: 1 });
    const second = commandJson('CreateProfile', { ...creator, firstName: 'Two', surname: 'Org' }, { commandId: 'shared-id', organisationId: 2 });
    await h.sendMany([first, second]);
    await waitFor('two results', () => h.resultsFor('shared-id').length >= 2);
    const results = h.resultsFor('shared-id').map((received) => received.value);
    expect(results.map((result) => [result.organisationId, result.status]).sort()).toEqual([
      [1, 'ACCEPTED'],
      [2, 'ACCEPTED'],
    ]);
    expect(results[0]!.customerNumber).not.toBe(results[1]!.customerNumber);
    expect(await h.mongo.db.collection('profiles').countDocuments({})).toBe(2);
  });
});
