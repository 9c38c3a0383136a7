import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actor, commandJson, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';

/** Every command type through Kafka, as a client and a subscriber see it. */
describe('profile worker: commands, results and events', () => {
  let harness: ProfileHarness;
  beforeAll(async () => {
    harness = await startProfileHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  const later = () => isoAfter(new Date(), 3_600);

  async function create(fields: Record<string, unknown> = {}, organisationId = 1): Promise<string> {
    const command = commandJson('CreateProfile', { ...creator, firstName: 'Kari', surname: 'Nordmann', ...fields }, { organisationId });
    await harness.send(command);
    const result = await harness.result(command['commandId'] as string);
    expect(result).toMatchObject({ status: 'ACCEPTED', version: 1 });
    return result.customerNumber!;
  }

  const run = (type: string, payload: Record<string, unknown>, customerNumber?: string) => harness.run(type, payload, customerNumber);

  it('CreateProfile: one ACCEPTED result keyed like the command, a CREATED event with the full profile, the profile in MongoDB', async () => {
    const command = commandJson('CreateProfile', { ...creator, firstName: 'Kari', surname: 'Nordmann', email: 'kari@example.com' });
    await harness.send(command, { headers: { 'X-Correlation-Id': 'corr-create-1' } });
    const result = await harness.result(command['commandId'] as string);
    expect(result).toMatchObject({ status: 'ACCEPTED', code: null, organisationId: 1, version: 1, correlationId: 'corr-create-1', clientName: 'acme-ticketshop', commandType: 'CreateProfile' });
    expect(result.customerNumber).toMatch(/^\d+$/);
    const received = harness.results.find((entry) => entry.value.commandId === command['commandId']);
    expect(received?.key).toBe(command['commandId']);

    const [event] = await waitFor('the CREATED event', () => {
      const list = harness.eventsOf(result.customerNumber!);
      return list.length > 0 ? list : undefined;
    });
    expect(event).toMatchObject({ eventType: 'CREATED', version: 1, correlationId: 'corr-create-1', commandId: command['commandId'], organisationId: 1 });
    expect(event!.profile).toMatchObject({ customerNumber: result.customerNumber, customerRef: result.customerNumber, email: 'kari@example.com', status: 'A', profileType: 'S', languagePreferenceISO6393: 'NOB', preferences: [], customerAccounts: [] });
    expect(event!.profile!.uuid).toMatch(/^[A-Za-z0-9]{32}$/);
    const eventRecord = harness.events.find((entry) => entry.value.eventId === event!.eventId);
    expect(eventRecord).toMatchObject({ key: result.customerNumber, topic: harness.names.customerChanged(1) });

    const stored = await harness.mongo.db.collection('profiles').findOne({ _id: result.customerNumber as never });
    expect(stored).toMatchObject({ organisationId: 1, firstName: 'Kari', version: 1 });
    // Its result is stored once the event and result are out: the mark that nothing is owed any more.
    await waitFor('the result stored', async () => (await harness.mongo.db.collection('commands').countDocuments({ _id: `1:${command['commandId'] as string}` as never })) === 1);

    // What an operator sees on /metrics.
    const metrics = await harness.metrics.registry.metrics();
    expect(metrics).toMatch(/profiles_commands_total\{type="CreateProfile",status="ACCEPTED",code=""\} [1-9]/);
    expect(metrics).toMatch(/profiles_command_handling_seconds_count [1-9]/);
    expect(metrics).toMatch(/profiles_event_publish_lag_seconds_count [1-9]/);
  });

  it('UpdateProfile, preferences, accounts, deactivation and restore: one event per change, versions without gaps', async () => {
    const customer = await create({ email: 'ola@example.com' });
    expect(await run('UpdateProfile', { ...actor, surname: 'Hansen', countryCode: '+47', telephoneNumberNoCountryCode: '40000000' }, customer)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(await run('DefinePreference', { key: 'assistance', allowedValues: ['wheelchair', 'guide'] })).toMatchObject({ status: 'ACCEPTED' });
    expect(await run('SetPreference', { key: 'assistance', value: 'wheelchair' }, customer)).toMatchObject({ status: 'ACCEPTED', version: 3 });
    expect(await run('AddCustomerAccount', { customerAccountId: `acc-${customer}` }, customer)).toMatchObject({ status: 'ACCEPTED', version: 4 });
    expect(await run('RemovePreference', { key: 'assistance' }, customer)).toMatchObject({ status: 'ACCEPTED', version: 5 });
    expect(await run('RemoveCustomerAccount', { customerAccountId: `acc-${customer}` }, customer)).toMatchObject({ status: 'ACCEPTED', version: 6 });
    expect(await run('DeactivateCustomer', { ...actor, expirationDate: later() }, customer)).toMatchObject({ status: 'ACCEPTED', version: 7 });
    expect(await run('UpdateProfile', { ...actor, surname: 'X' }, customer)).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_DEACTIVATED' });
    expect(await run('RestoreCustomer', actor, customer)).toMatchObject({ status: 'ACCEPTED', version: 8 });

    const events = await waitFor('eight events', () => {
      const list = harness.eventsOf(customer);
      return list.length >= 8 ? list : undefined;
    });
    expect(events.map((event) => [event.version, event.eventType])).toEqual([
      [1, 'CREATED'],
      [2, 'UPDATED'],
      [3, 'UPDATED'],
      [4, 'UPDATED'],
      [5, 'UPDATED'],
      [6, 'UPDATED'],
      [7, 'DEACTIVATED'],
      [8, 'RESTORED'],
    ]);
    expect(events[2]!.profile!.preferences).toEqual([{ key: 'assistance', value: 'wheelchair' }]);
    expect(events[3]!.profile!.customerAccounts).toEqual([`acc-${customer}`]);
    expect(events[6]!.profile).toMatchObject({ status: 'D', email: null, emailOld: 'ola@example.com' });
    expect(events[7]!.profile).toMatchObject({ status: 'A', email: 'ola@example.com', emailOld: null, changedBy: 'agent-7', changedByChannel: 'web' });
  });

  it('temporary profiles: create, update, convert; and merge into a permanent one', async () => {
    const temporary = (await run('CreateTemporaryProfile', { ...creator, expirationDate: later(), firstName: 'Tor' })).customerNumber!;
    expect(await run('UpdateTemporaryProfile', { ...actor, expirationDate: later(), surname: 'Li' }, temporary)).toMatchObject({ status: 'ACCEPTED', version: 2 });
    expect(await run('ConvertToPermanent', { ...actor, firstName: 'Tor', surname: 'Li' }, temporary)).toMatchObject({ status: 'ACCEPTED', version: 3 });
    const converted = await waitFor('CONVERTED', () => harness.eventsOf(temporary).find((event) => event.eventType === 'CONVERTED'));
    expect(converted.profile).toMatchObject({ profileType: 'S', expirationDate: null, firstName: 'Tor', surname: 'Li' });

    const permanent = await create();
    await run('DefinePreference', { key: 'seat', allowedValues: null });
    await run('SetPreference', { key: 'seat', value: 'aisle' }, permanent);
    const anonymous = (await run('CreateTemporaryProfile', { ...creator, expirationDate: later(), email: `anon-${permanent}@example.com` })).customerNumber!;
    await run('SetPreference', { key: 'seat', value: 'window' }, anonymous);
    await run('AddCustomerAccount', { customerAccountId: `card-${anonymous}` }, anonymous);
    const merged = await run('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, anonymous);
    expect(merged).toMatchObject({ status: 'ACCEPTED', customerNumber: anonymous });

    const mergedEvent = await waitFor('MERGED', () => harness.eventsOf(permanent).find((event) => event.eventType === 'MERGED'));
    expect(mergedEvent.profile).toMatchObject({ relatedCustomerNumbers: [anonymous], preferences: [{ key: 'seat', value: 'aisle' }], customerAccounts: [`card-${anonymous}`] });
    const deleted = await waitFor('DELETED', () => harness.eventsOf(anonymous).find((event) => event.eventType === 'DELETED'));
    expect(deleted).toMatchObject({ reason: 'MERGED', mergedInto: permanent, profile: null, version: 4 });
    expect(JSON.stringify(deleted)).not.toContain('anon-');
    expect(await harness.mongo.db.collection('profiles').findOne({ _id: anonymous as never })).toBeNull();
    // The temporary profile is gone; its account now belongs to the permanent one, its email is free.
    expect(await run('UpdateProfile', { ...actor, surname: 'X' }, anonymous)).toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
    const other = await create();
    expect(await run('AddCustomerAccount', { customerAccountId: `card-${anonymous}` }, other)).toMatchObject({ code: 'ACCOUNT_TAKEN' });
    expect(await run('UpdateProfile', { ...actor, email: `ANON-${permanent}@example.com` }, other)).toMatchObject({ status: 'ACCEPTED' });
  });

  it('every answer is counted on /metrics: also a change relayed before a merge that came with it', async () => {
    const accepted = async (type: string) => Number((await harness.metrics.registry.metrics()).match(new RegExp(`profiles_commands_total\\{type="${type}",status="ACCEPTED",code=""\\} (\\d+)`))?.[1] ?? 0);
    const permanent = await create();
    const temporary = (await run('CreateTemporaryProfile', { ...creator, expirationDate: later() })).customerNumber!;
    const before = { accounts: await accepted('AddCustomerAccount'), merges: await accepted('MergeTemporaryProfile') };
    // One key, one partition, sent together: the change is written and relayed before the merge, in one step.
    const update = commandJson('AddCustomerAccount', { customerAccountId: `card-${temporary}` }, { customerNumber: temporary });
    const merge = commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, { customerNumber: temporary });
    await harness.sendMany([update, merge]);
    expect(await harness.result(update['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    expect(await harness.result(merge['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    await waitFor('both counted', async () => (await accepted('MergeTemporaryProfile')) === before.merges + 1 && (await accepted('AddCustomerAccount')) === before.accounts + 1);
  });
});
