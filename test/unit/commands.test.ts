import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { validateCommand, deprecatedFields } from '../../workers/profile/commands.ts';
import { commandTypes } from '../../workers/profile/model.ts';
import { actor, commandJson, creator, headers, isoAfter } from '../helpers/factories.ts';

const now = new Date('2026-11-22T12:00:00Z');
const validate = (raw: unknown, h = headers) => validateCommand(raw, h, now);
const rejection = (raw: unknown, h = headers) => {
  const result = validate(raw, h);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.command)}`);
  return result.rejection;
};

describe('validateCommand', () => {
  it('given a valid CreateProfile, then it is a typed command with defaults', () => {
    const result = validate(commandJson('CreateProfile', { ...creator, firstName: 'Kari', surname: 'Nordmann', email: 'kari@example.com' }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.command).toMatchObject({
      type: 'CreateProfile',
      organisationId: 1,
      customerNumber: null,
      clientName: 'acme-ticketshop',
      payload: { actor: { by: 'agent-7', channel: 'web' }, profileType: 'S', fields: { firstName: 'Kari', email: 'kari@example.com' } },
    });
  });

  it('given no ET-Client-Name, then MISSING_CLIENT_NAME, and what could be read is kept', () => {
    const raw = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });
    const result = validate(raw, { clientName: null, correlationId: 'c' } as never);
    expect(result).toMatchObject({ ok: false, rejection: { code: 'MISSING_CLIENT_NAME' }, meta: { commandId: raw['commandId'], organisationId: 1 } });
    expect(rejection(raw, { clientName: 'nodash', correlationId: 'c' }).code).toBe('MISSING_CLIENT_NAME');
  });

  it('given an unknown type, then UNKNOWN_COMMAND_TYPE', () => {
    expect(rejection(commandJson('DeleteEverything', {})).code).toBe('UNKNOWN_COMMAND_TYPE');
  });

  it.each([
    ['an unknown payload field', commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B', shoeSize: 42 }), 'payload.shoeSize: unknown field'],
    ['an unknown envelope field', { ...commandJson('RestoreCustomer', actor, { customerNumber: '1' }), extra: 1 }, 'extra: unknown field'],
    ['a missing required field', commandJson('CreateProfile', { ...creator, surname: 'B' }), 'payload.firstName: required'],
    ['a missing customerNumber', commandJson('UpdateProfile', actor), 'customerNumber: required'],
    ['a customerNumber on a creation', commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }, { customerNumber: '5' }), 'customerNumber: not allowed'],
    ['a bad organisationId', commandJson('DefinePreference', { key: 'k' }, { organisationId: 0 }), 'organisationId: must be > 0'],
    ['a bad country code', commandJson('UpdateProfile', { ...actor, countryCode: '47' }, { customerNumber: '1' }), 'payload.countryCode'],
    ['letters in a phone number', commandJson('UpdateProfile', { ...actor, telephoneNumberNoCountryCode: '12ab' }, { customerNumber: '1' }), 'payload.telephoneNumberNoCountryCode'],
    ['a bad nationality', commandJson('UpdateProfile', { ...actor, nationality: 'NO' }, { customerNumber: '1' }), 'payload.nationality'],
    ['a bad preference key', commandJson('DefinePreference', { key: 'has space' }), 'payload.key'],
    ['a system field', commandJson('UpdateProfile', { ...actor, version: 3 }, { customerNumber: '1' }), 'payload.version: set by the suite'],
    ['status D through an update', commandJson('UpdateProfile', { ...actor, status: 'D' }, { customerNumber: '1' }), 'payload.status'],
  ])('given %s, then INVALID_COMMAND naming the field', (_, raw, fragment) => {
    const { code, message } = rejection(raw);
    expect(code).toBe('INVALID_COMMAND');
    expect(message).toContain(fragment);
  });

  it.each([...deprecatedFields])('given the deprecated field %s, then the message names its replacement', (field, replacement) => {
    const { code, message } = rejection(commandJson('UpdateProfile', { ...actor, [field]: 'x' }, { customerNumber: '1' }));
    expect(code).toBe('INVALID_COMMAND');
    expect(message).toBe(`payload.${field}: deprecated, ${replacement}`);
  });

  it('given customerAccountId on an account command, then it is the account, not the deprecated field', () => {
    expect(validate(commandJson('AddCustomerAccount', { customerAccountId: 'acc-1' }, { customerNumber: '1' })).ok).toBe(true);
  });

  it.each(['CreateTemporaryProfile', 'UpdateTemporaryProfile', 'DeactivateCustomer'])('given %s with an expiration date not in the future, then EXPIRATION_IN_PAST', (type) => {
    const customer = type === 'CreateTemporaryProfile' ? {} : { customerNumber: '1' };
    const payload = { ...(type === 'CreateTemporaryProfile' ? creator : actor), expirationDate: isoAfter(now, 0) };
    expect(rejection(commandJson(type, payload, customer)).code).toBe('EXPIRATION_IN_PAST');
    expect(validate(commandJson(type, { ...payload, expirationDate: isoAfter(now, 60) }, customer)).ok).toBe(true);
  });

  it('given UpdateProfile, then null clears and absent keeps', () => {
    const result = validate(commandJson('UpdateProfile', { ...actor, email: null, surname: 'Hansen' }, { customerNumber: '1' }));
    expect(result.ok && result.command.type === 'UpdateProfile' && result.command.payload.fields).toEqual({ email: null, surname: 'Hansen' });
  });

  it('given an expiration date with an offset, then it is normalised to UTC', () => {
    const result = validate(commandJson('DeactivateCustomer', { ...actor, expirationDate: '2030-01-01T10:00:00+02:00' }, { customerNumber: '1' }));
    expect(result.ok && result.command.type === 'DeactivateCustomer' && result.command.payload.expirationDate).toBe('2030-01-01T08:00:00.000Z');
  });

  it('property: any input gives a typed command or a rejection with a message, never an exception', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            commandId: fc.oneof(fc.string(), fc.integer()),
            type: fc.oneof(fc.constantFrom(...commandTypes), fc.string()),
            organisationId: fc.oneof(fc.integer(), fc.string()),
            customerNumber: fc.option(fc.oneof(fc.stringMatching(/^\d{1,8}$/), fc.string())),
            payload: fc.dictionary(fc.string(), fc.jsonValue()),
          }),
        ),
        (raw) => {
          const result = validate(raw);
          if (!result.ok) expect(result.rejection.message.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('property: an unknown payload field is always rejected by name', () => {
    const known = new Set(['createdBy', 'createdByChannel', 'firstName', 'surname', ...Object.keys(deprecatedFields), 'uuid', 'version', 'customerNumber', 'organisationId', 'emailOld', 'relatedCustomerNumbers', 'preferences', 'customerAccounts', 'createdAt', 'changedAt', '__proto__', 'constructor', 'toString']);
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,20}$/).filter((name) => !known.has(name) && !/^(profileType|email|emailVerifiedAt|countryCode|telephoneNumberNoCountryCode|landlineNumber|telephoneNumberVerifiedAt|dateOfBirth|dateOfDeath|nationality|customerRef|languagePreferenceISO6393|postalAddresses|status)$/.test(name)), fc.jsonValue(), (name, value) => {
        const { code, message } = rejection(commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B', [name]: value }));
        expect(code).toBe('INVALID_COMMAND');
        expect(message).toContain(`payload.${name}`);
      }),
      { numRuns: 500 },
    );
  });
});
