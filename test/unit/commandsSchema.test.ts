// schemas/commands.schema.json is generated from the validation rules (scripts/contract.ts): it may
// never drift from them, and a client validating with it must never refuse what the worker accepts.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandsSchemaPath, renderCommandsSchema } from '../../scripts/contract.ts';
import { validateCommand } from '../../workers/profile/commands.ts';
import { commandTypes, type CommandType } from '../../workers/profile/model.ts';
import { actor, commandJson, creator, headers, isoAfter } from '../helpers/factories.ts';

const now = new Date('2026-11-22T12:00:00Z');
const later = isoAfter(now, 86_400);
const committed = readFileSync(commandsSchemaPath, 'utf8');
// Formats are checked by the patterns next to them; the date formats add nothing to check here.
const ajv = new Ajv({ allErrors: true, formats: { date: true, 'date-time': true } });
const validateWithSchema = ajv.compile(JSON.parse(committed) as object);

/** As sent on the wire: fields set to undefined are absent. */
const asSent = (raw: unknown) => JSON.parse(JSON.stringify(raw)) as unknown;
const matchesSchema = (raw: unknown) => validateWithSchema(asSent(raw));
const schemaErrors = () => JSON.stringify(validateWithSchema.errors);

/** One valid command of each type, with most optional fields given. */
const valid: Record<CommandType, Record<string, unknown>> = {
  CreateProfile: commandJson('CreateProfile', {
    ...creator,
    profileType: 'P',
    firstName: 'Kari',
    surname: 'Nordmann',
    email: 'kari@example.com',
    emailVerifiedAt: '2026-11-01T10:00:00+01:00',
    countryCode: '+47',
    telephoneNumberNoCountryCode: '40000000',
    landlineNumber: '+4722000000',
    dateOfBirth: '1990-02-28',
    nationality: 'nor',
    languagePreferenceISO6393: 'NOB',
    customerRef: 'ref-1',
    postalAddresses: [{ addressLine1: 'Storgata 1', postalCode: '0155', city: 'Oslo', country: 'NOR' }],
    status: 'A',
  }),
  UpdateProfile: commandJson('UpdateProfile', { ...actor, surname: 'Hansen', landlineNumber: null, postalAddresses: null }, { customerNumber: '1000000' }),
  CreateTemporaryProfile: commandJson('CreateTemporaryProfile', { ...creator, expirationDate: later, firstName: 'Kari' }),
  UpdateTemporaryProfile: commandJson('UpdateTemporaryProfile', { ...actor, expirationDate: later, email: null }, { customerNumber: '1000000' }),
  ConvertToPermanent: commandJson('ConvertToPermanent', { ...actor, firstName: 'Kari', surname: 'Nordmann', email: 'kari@example.com' }, { customerNumber: '1000000' }),
  MergeTemporaryProfile: commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: '1000001' }, { customerNumber: '1000000' }),
  DefinePreference: commandJson('DefinePreference', { key: 'assistance.wheelchair', description: 'Needs a ramp', allowedValues: ['yes', 'no'] }),
  SetPreference: commandJson('SetPreference', { key: 'assistance.wheelchair', value: 'yes' }, { customerNumber: '1000000' }),
  RemovePreference: commandJson('RemovePreference', { ...actor, key: 'assistance.wheelchair' }, { customerNumber: '1000000' }),
  AddCustomerAccount: commandJson('AddCustomerAccount', { customerAccountId: 'acc-1' }, { customerNumber: '1000000' }),
  RemoveCustomerAccount: commandJson('RemoveCustomerAccount', { ...actor, customerAccountId: 'acc-1' }, { customerNumber: '1000000' }),
  DeactivateCustomer: commandJson('DeactivateCustomer', { ...actor, expirationDate: later }, { customerNumber: '1000000' }),
  RestoreCustomer: commandJson('RestoreCustomer', actor, { customerNumber: '1000000' }),
};

const accepted = (raw: unknown) => validateCommand(asSent(raw), headers, now).ok;
const withPayload = (raw: Record<string, unknown>, change: Record<string, unknown>) => ({ ...raw, payload: { ...(raw['payload'] as object), ...change } });

describe('schemas/commands.schema.json', () => {
  it('given the validation rules, when the generator runs, then it writes exactly the committed file (run `npm run contract` after changing them)', () => {
    expect(committed).toBe(renderCommandsSchema());
  });

  it.each(commandTypes)('given a valid %s, then both the worker and the schema accept it', (type) => {
    expect(accepted(valid[type])).toBe(true);
    expect(matchesSchema(valid[type]), schemaErrors()).toBe(true);
  });

  it.each([
    ['an unknown type', commandJson('DeleteEverything', {})],
    ['an unknown payload field', withPayload(valid.CreateProfile, { shoeSize: 42 })],
    ['an unknown envelope field', { ...valid.RestoreCustomer, extra: 1 }],
    ['a deprecated field', withPayload(valid.UpdateProfile, { telephoneNumber: '123' })],
    ['a system field', withPayload(valid.UpdateProfile, { version: 3 })],
    ['a missing required field', withPayload(valid.CreateProfile, { firstName: undefined })],
    ['a missing customerNumber', { ...valid.UpdateProfile, customerNumber: undefined }],
    ['a customerNumber on a creation', { ...valid.CreateProfile, customerNumber: '5' }],
    ['organisationId 0', { ...valid.RestoreCustomer, organisationId: 0 }],
    ['a fractional organisationId', { ...valid.RestoreCustomer, organisationId: 1.5 }],
    ['an empty commandId', { ...valid.RestoreCustomer, commandId: '' }],
    ['a country code without +', withPayload(valid.UpdateProfile, { countryCode: '47' })],
    ['letters in a phone number', withPayload(valid.UpdateProfile, { telephoneNumberNoCountryCode: '12ab' })],
    ['a bad date', withPayload(valid.UpdateProfile, { dateOfBirth: '1990-02-30' })],
    ['a date-time without offset', withPayload(valid.DeactivateCustomer, { expirationDate: '2027-01-01T00:00:00' })],
    ['status D through an update', withPayload(valid.UpdateProfile, { status: 'D' })],
    ['profileType T on CreateProfile', withPayload(valid.CreateProfile, { profileType: 'T' })],
    ['a bad preference key', withPayload(valid.DefinePreference, { key: 'has space' })],
    ['no allowed value', withPayload(valid.DefinePreference, { allowedValues: [] })],
    ['a first name of 101 characters', withPayload(valid.CreateProfile, { firstName: 'x'.repeat(101) })],
  ])('given %s, then both the worker and the schema refuse it', (_, raw) => {
    expect(accepted(raw)).toBe(false);
    expect(matchesSchema(raw)).toBe(false);
  });

  it.each([
    ['an unknown nationality', withPayload(valid.UpdateProfile, { nationality: 'XXX' }), 'expected ISO 3166-1 alpha-3'],
    ['an unknown language', withPayload(valid.UpdateProfile, { languagePreferenceISO6393: 'QQX' }), 'expected ISO 639-3'],
    ['an email without a dot in its domain', withPayload(valid.UpdateProfile, { email: 'kari@localhost' }), 'expected an email address'],
    ['a blank surname', withPayload(valid.UpdateProfile, { surname: '   ' }), 'trimmed'],
  ])('given %s, then only the worker refuses it, and the schema says so in a description', (_, raw, note) => {
    expect(accepted(raw)).toBe(false);
    expect(matchesSchema(raw)).toBe(true);
    expect(committed).toMatch(new RegExp(`"description": "[^"]*Also checked, not expressed in this schema: [^"]*${note}`));
  });

  it('given any change to a valid command that the worker still accepts, then the schema accepts it too (it never refuses a good command)', () => {
    const jsonValue = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.string({ maxLength: 12 }), fc.constantFrom('+47', '1990-02-28', 'NOR', '2027-01-01T00:00:00Z', 'a@b.no', 'S', 'A'));
    // A field of the command (by index) or a made-up name; a value, or undefined to remove it.
    const field = fc.oneof(fc.nat(), fc.string({ maxLength: 30 }));
    fc.assert(
      fc.property(fc.constantFrom(...commandTypes), fc.boolean(), field, fc.option(jsonValue, { nil: undefined }), (type, inPayload, which, value) => {
        const base = valid[type];
        const keys = Object.keys(inPayload ? (base['payload'] as object) : base);
        const name = typeof which === 'number' ? keys[which % keys.length]! : which;
        const raw = inPayload ? withPayload(base, { [name]: value }) : { ...base, [name]: value };
        if (accepted(raw)) expect(matchesSchema(raw), `${JSON.stringify(asSent(raw))}: ${schemaErrors()}`).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });
});
