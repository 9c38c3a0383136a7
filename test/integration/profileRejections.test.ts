import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSchemaFile } from '../../shared/avro.ts';
import { actor, commandJson, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';

/** Bad input: every rejection code, the DLQ, and a partition that keeps going. */
describe('profile worker: rejections and the DLQ', () => {
  let harness: ProfileHarness;
  beforeAll(async () => {
    harness = await startProfileHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  const later = () => isoAfter(new Date(), 3_600);

  const run: ProfileHarness['run'] = (...args) => harness.run(...args);

  const create = async (payload: Record<string, unknown> = {}, organisationId = 1) =>
    (await run('CreateProfile', { ...creator, firstName: 'A', surname: 'B', ...payload }, undefined, { organisationId })).customerNumber!;

  it('answers every rejection code with a clear message and no personal data', async () => {
    const customer = await create({ email: `taken-${Date.now()}@example.com` });
    const temporary = (await run('CreateTemporaryProfile', { ...creator, expirationDate: later() })).customerNumber!;
    const deactivated = await create();
    await run('DeactivateCustomer', { ...actor, expirationDate: later() }, deactivated);
    const email = (await harness.mongo.db.collection('profiles').findOne({ _id: customer as never }))!['email'] as string;
    await run('DefinePreference', { key: 'class', allowedValues: ['first', 'second'] });
    const holder = await create();
    await run('AddCustomerAccount', { customerAccountId: `held-${holder}` }, holder);

    const cases: [string, Promise<unknown>][] = [
      ['INVALID_COMMAND', run('CreateProfile', { ...creator, firstName: 'A' })],
      ['UNKNOWN_COMMAND_TYPE', run('EraseEverything', {})],
      ['MISSING_CLIENT_NAME', run('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }, undefined, {}, { clientName: null })],
      ['CUSTOMER_NOT_FOUND', run('UpdateProfile', { ...actor, surname: 'X' }, '999999999')],
      ['CUSTOMER_DEACTIVATED', run('SetPreference', { key: 'class', value: 'first' }, deactivated)],
      ['NOT_TEMPORARY', run('ConvertToPermanent', { ...actor, firstName: 'A', surname: 'B' }, customer)],
      ['NOT_PERMANENT', run('UpdateProfile', { ...actor, surname: 'X' }, temporary)],
      ['NOT_DEACTIVATED', run('RestoreCustomer', actor, customer)],
      ['EMAIL_TAKEN', run('CreateProfile', { ...creator, firstName: 'A', surname: 'B', email: email.toUpperCase() })],
      ['ACCOUNT_TAKEN', run('AddCustomerAccount', { customerAccountId: `held-${holder}` }, customer)],
      ['PREFERENCE_NOT_DEFINED', run('SetPreference', { key: 'undefined-key', value: 'x' }, customer)],
      ['PREFERENCE_VALUE_NOT_ALLOWED', run('SetPreference', { key: 'class', value: 'cargo' }, customer)],
      ['EXPIRATION_IN_PAST', run('DeactivateCustomer', { ...actor, expirationDate: isoAfter(new Date(), -60) }, customer)],
    ];
    for (const [code, pending] of cases) {
      const result = (await pending) as { status: string; code: string; message: string };
      expect(result, code).toMatchObject({ status: 'REJECTED', code });
      expect(result.message.length, code).toBeGreaterThan(0);
      expect(result.message.toLowerCase(), code).not.toContain(email.toLowerCase());
    }
  });

  it('a profile of another organisation is not found, exactly like a missing one', async () => {
    const customer = await create({}, 1);
    const foreign = await run('UpdateProfile', { ...actor, surname: 'X' }, customer, { organisationId: 2 });
    const missing = await run('UpdateProfile', { ...actor, surname: 'X' }, '999999998', { organisationId: 2 });
    expect(foreign).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND' });
    expect(foreign.message).toBe(missing.message!.replace('999999998', customer));
    const stored = await harness.mongo.db.collection('profiles').findOne({ _id: customer as never });
    expect(stored).toMatchObject({ surname: 'B', version: 1 });
  });

  it('undecodable messages go to the DLQ unchanged with the five headers; a readable commandId is answered; the partition goes on', async () => {
    const key = 'dlq-key';
    const broken = '{"commandId":"broken-1","type":"CreateProfile",';
    await harness.send(broken, { key });
    await harness.send(Buffer.from([0, 0, 0, 0, 0]), { key });
    await harness.send('[1,2,3]', { key });
    const after = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });
    await harness.send(after, { key });

    expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    expect(await harness.result('broken-1')).toMatchObject({ status: 'REJECTED', code: 'INVALID_COMMAND' });
    const records = await waitFor('three DLQ records', () => (harness.dlq.filter((record) => record.key === key).length >= 3 ? harness.dlq.filter((record) => record.key === key) : undefined));
    expect(records[0]!.value).toBe(broken);
    for (const record of records) {
      expect(Object.keys(record.headers)).toEqual(expect.arrayContaining(['error-code', 'error-message', 'original-topic', 'original-partition', 'original-offset', 'ET-Client-Name']));
      expect(record.headers['original-topic']).toBe(harness.names.commands);
    }
    expect(records.map((record) => record.headers['error-code'])).toEqual(['MALFORMED_JSON', 'UNKNOWN_SCHEMA', 'NOT_AN_OBJECT']);
  });

  it('accepts the same command Avro-encoded in the Confluent wire format', async () => {
    const registered = await harness.codec.register(await readSchemaFile(new URL('../../schemas/CustomerCommand.avsc', import.meta.url)));
    const commandId = `avro-${Date.now()}`;
    const bytes = harness.codec.encode(registered, {
      commandId,
      type: 'CreateProfile',
      organisationId: 1,
      customerNumber: null,
      payload: JSON.stringify({ ...creator, firstName: 'Avro', surname: 'Client' }),
    });
    await harness.send(bytes, { key: commandId });
    const result = await harness.result(commandId);
    expect(result).toMatchObject({ status: 'ACCEPTED', version: 1 });
    const event = await waitFor('the CREATED event', () => harness.eventsOf(result.customerNumber!)[0]);
    expect(event.profile).toMatchObject({ firstName: 'Avro', surname: 'Client' });
  });
});
