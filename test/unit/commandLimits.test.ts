import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkCommandSize, isEmailAddress, validateCommand, type CommandHeaders } from '../../workers/profile/commands.ts';
import { limits } from '../../workers/profile/limits.ts';
import { actor, commandJson, creator, headers, isoAfter } from '../helpers/factories.ts';

/** Hostile input (SPEC §3.4): limits, linear checks, keys that are not what they seem, real code lists. */
const now = new Date('2026-11-22T12:00:00Z');
const validate = (raw: unknown, h: CommandHeaders = headers) => validateCommand(raw, h, now);
const rejection = (raw: unknown, h: CommandHeaders = headers) => {
  const result = validate(raw, h);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.command).slice(0, 200)}`);
  return result.rejection;
};
const later = isoAfter(now, 3_600);
const on = { customerNumber: '1' };

/** Strings of about 1 MB shaped to hit a backtracking pattern where it hurts. */
const megabyte = 1_000_000;
const hostileStrings = [
  'a'.repeat(megabyte),
  '1'.repeat(megabyte),
  ' '.repeat(megabyte),
  `a@${'.'.repeat(megabyte)}@`,
  `+${'1'.repeat(megabyte)}x`,
  `2030-01-01T00:00:00.${'1'.repeat(megabyte)}x`,
  `${'a.'.repeat(megabyte / 2)}-!`,
];

/** [field, command] for every string a client sets: `put(value)` builds a command with it there. */
const everyStringField: [string, (value: string) => { raw: unknown; headers?: CommandHeaders }][] = [
  ...['firstName', 'surname', 'email', 'emailVerifiedAt', 'countryCode', 'telephoneNumberNoCountryCode', 'landlineNumber', 'telephoneNumberVerifiedAt', 'dateOfBirth', 'dateOfDeath', 'nationality', 'customerRef', 'languagePreferenceISO6393', 'status', 'changedBy', 'changedByChannel'].map(
    (field): [string, (value: string) => { raw: unknown }] => [field, (value) => ({ raw: commandJson('UpdateProfile', { ...actor, [field]: value }, on) })],
  ),
  ...['addressType', 'addressLine1', 'addressLine2', 'postalCode', 'city', 'country'].map((field): [string, (value: string) => { raw: unknown }] => [
    `postalAddresses.${field}`,
    (value) => ({ raw: commandJson('UpdateProfile', { ...actor, postalAddresses: [{ addressLine1: 'Gate 1', postalCode: '0150', city: 'Oslo', [field]: value }] }, on) }),
  ]),
  ['profileType', (value) => ({ raw: commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B', profileType: value }) })],
  ['createdBy', (value) => ({ raw: commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B', createdBy: value }) })],
  ['expirationDate', (value) => ({ raw: commandJson('CreateTemporaryProfile', { ...creator, expirationDate: value }) })],
  ['DefinePreference key', (value) => ({ raw: commandJson('DefinePreference', { key: value }) })],
  ['description', (value) => ({ raw: commandJson('DefinePreference', { key: 'k', description: value }) })],
  ['allowedValues', (value) => ({ raw: commandJson('DefinePreference', { key: 'k', allowedValues: [value] }) })],
  ['SetPreference value', (value) => ({ raw: commandJson('SetPreference', { key: 'k', value }, on) })],
  ['customerAccountId', (value) => ({ raw: commandJson('AddCustomerAccount', { customerAccountId: value }, on) })],
  ['permanentCustomerNumber', (value) => ({ raw: commandJson('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: value }, on) })],
  ['commandId', (value) => ({ raw: { ...commandJson('RestoreCustomer', actor, on), commandId: value } })],
  ['type', (value) => ({ raw: commandJson(value, actor, on) })],
  ['customerNumber', (value) => ({ raw: commandJson('RestoreCustomer', actor, { customerNumber: value }) })],
  ['ET-Client-Name', (value) => ({ raw: commandJson('RestoreCustomer', actor, on), headers: { ...headers, clientName: value } })],
];

describe('validateCommand: no check takes more than linear time', () => {
  it('given the email of the issue ("a@", 20,000 or 200,000 dots, "@"), then it is answered at once', () => {
    for (const dots of [20_000, 200_000]) {
      const started = performance.now();
      const { code } = rejection(commandJson('UpdateProfile', { ...actor, email: `a@${'.'.repeat(dots)}@` }, on));
      expect(performance.now() - started, `${dots} dots`).toBeLessThan(200);
      expect(code).toBe('INVALID_COMMAND');
    }
  });

  it.each(everyStringField)('given about 1 MB of hostile text in %s, then it is rejected in well under 200 ms', (field, put) => {
    for (const value of hostileStrings) {
      const { raw, headers: h } = put(value);
      const started = performance.now();
      const result = validate(raw, h);
      const elapsed = performance.now() - started;
      expect(elapsed, `${field}: ${value.slice(0, 24)}…`).toBeLessThan(200);
      expect(result.ok, field).toBe(false);
      if (!result.ok) expect(result.rejection.message.length, field).toBeLessThan(300);
    }
  });

  it('property: the email check says exactly what the former pattern said, on short strings', () => {
    const former = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '@', '.', ' ', '\t', '\n', 'é'), maxLength: 12 }), (value) => {
        expect(isEmailAddress(value)).toBe(former.test(value));
      }),
      { numRuns: 5_000 },
    );
    expect(isEmailAddress('kari.nordmann@example.no')).toBe(true);
  });
});

describe('validateCommand: limits (SPEC §3.4)', () => {
  const fields = (count: number, prefix = 'x') => Object.fromEntries(Array.from({ length: count }, (_, index) => [`${prefix}${index}`, 1]));

  it.each([
    ['a payload of more fields than the cap', commandJson('UpdateProfile', { ...actor, ...fields(limits.fieldsPerObject) }, on), `payload: at most ${limits.fieldsPerObject} fields`],
    ['an envelope of more fields than the cap', { ...commandJson('RestoreCustomer', actor, on), ...fields(limits.fieldsPerObject) }, `command: at most ${limits.fieldsPerObject} fields`],
    [
      'an address of more fields than the cap',
      commandJson('UpdateProfile', { ...actor, postalAddresses: [{ addressLine1: 'a', postalCode: '1', city: 'c' }, fields(limits.fieldsPerObject + 1)] }, on),
      `payload.postalAddresses.1: at most ${limits.fieldsPerObject} fields`,
    ],
    [
      'more addresses than the cap',
      commandJson('UpdateProfile', { ...actor, postalAddresses: Array.from({ length: limits.postalAddresses + 1 }, () => ({ addressLine1: 'a', postalCode: '1', city: 'c' })) }, on),
      `payload.postalAddresses: at most ${limits.postalAddresses} per profile`,
    ],
    ['more allowed values than the cap', commandJson('DefinePreference', { key: 'k', allowedValues: Array.from({ length: limits.allowedValues + 1 }, (_, index) => `v${index}`) }), `payload.allowedValues: at most ${limits.allowedValues} per preference`],
  ])('given %s, then LIMIT_EXCEEDED naming the limit', (_, raw, message) => {
    expect(rejection(raw)).toEqual({ code: 'LIMIT_EXCEEDED', message });
  });

  it('given the caps exactly, then accepted', () => {
    const addresses = Array.from({ length: limits.postalAddresses }, () => ({ addressLine1: 'a', postalCode: '1', city: 'c', country: 'nor' }));
    expect(validate(commandJson('UpdateProfile', { ...actor, postalAddresses: addresses }, on)).ok).toBe(true);
    const values = Array.from({ length: limits.allowedValues }, (_, index) => `v${index}`);
    expect(validate(commandJson('DefinePreference', { key: 'k', allowedValues: values })).ok).toBe(true);
  });

  it('given 200,000 addresses, then LIMIT_EXCEEDED without looking at them', () => {
    const started = performance.now();
    expect(rejection(commandJson('UpdateProfile', { ...actor, postalAddresses: Array.from({ length: 200_000 }, () => ({ bad: true })) }, on)).code).toBe('LIMIT_EXCEEDED');
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('given a command over the size limit, then LIMIT_EXCEEDED naming it; at the limit, nothing', () => {
    expect(checkCommandSize(limits.commandBytes + 1)).toEqual({ code: 'LIMIT_EXCEEDED', message: `command: at most ${limits.commandBytes} bytes` });
    expect(checkCommandSize(limits.commandBytes)).toBeNull();
  });
});

describe('validateCommand: result messages carry no unbounded client text', () => {
  it('given many unknown fields with long names, then the message counts them and names only the first few, cut short', () => {
    const long = (index: number) => `${'z'.repeat(5_000)}${index}`;
    const payload = { ...actor, ...Object.fromEntries(Array.from({ length: 40 }, (_, index) => [long(index), 1])) };
    const { code, message } = rejection(commandJson('UpdateProfile', payload, on));
    expect(code).toBe('INVALID_COMMAND');
    expect(message).toMatch(/^payload: 40 unknown fields, first: z{40}…, z{40}…, z{40}…$/);
  });

  it('given a few unknown fields, then each is named', () => {
    expect(rejection(commandJson('UpdateProfile', { ...actor, shoeSize: 1, hatSize: 2 }, on)).message).toBe('payload.shoeSize, payload.hatSize: unknown fields');
  });

  it('given many invalid fields, then the first few are described and the rest counted', () => {
    const addresses = Array.from({ length: limits.postalAddresses }, () => ({ addressLine1: '', postalCode: '', city: '' }));
    const { message } = rejection(commandJson('UpdateProfile', { ...actor, postalAddresses: addresses }, on));
    expect(message.split('; ')).toHaveLength(6);
    expect(message).toMatch(/; and 25 more$/);
  });

  it('property: whatever the payload, a rejection message stays short', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 2_000 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 80 }), (payload) => {
        const result = validate(commandJson('CreateProfile', payload));
        if (!result.ok) expect(result.rejection.message.length).toBeLessThan(600);
      }),
      { numRuns: 300 },
    );
  });
});

describe('validateCommand: keys that are not what they seem', () => {
  it.each([
    ['the envelope', '{"commandId":"c1","type":"RestoreCustomer","organisationId":1,"customerNumber":"1","payload":{"changedBy":"a","changedByChannel":"b"},"__proto__":{"x":1}}', '__proto__: unknown field'],
    ['the payload', '{"commandId":"c1","type":"RestoreCustomer","organisationId":1,"customerNumber":"1","payload":{"changedBy":"a","changedByChannel":"b","__proto__":{"x":1}}}', 'payload.__proto__: unknown field'],
    ['the payload (a scalar)', '{"commandId":"c1","type":"RestoreCustomer","organisationId":1,"customerNumber":"1","payload":{"changedBy":"a","changedByChannel":"b","__proto__":1}}', 'payload.__proto__: unknown field'],
    [
      'an address',
      '{"commandId":"c1","type":"UpdateProfile","organisationId":1,"customerNumber":"1","payload":{"changedBy":"a","changedByChannel":"b","postalAddresses":[{"addressLine1":"a","postalCode":"1","city":"c","__proto__":{}}]}}',
      'payload.postalAddresses.0.__proto__: unknown field',
    ],
  ])('given a __proto__ key in %s (as JSON.parse makes it), then INVALID_COMMAND naming it', (_, json, message) => {
    expect(rejection(JSON.parse(json))).toEqual({ code: 'INVALID_COMMAND', message });
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf'])('given the payload key %s, then it is an unknown field, not a deprecated one', (field) => {
    expect(rejection(commandJson('UpdateProfile', { ...actor, [field]: 'x' }, on))).toEqual({ code: 'INVALID_COMMAND', message: `payload.${field}: unknown field` });
  });
});

describe('validateCommand: codes from the real lists', () => {
  const update = (payload: Record<string, unknown>) => validate(commandJson('UpdateProfile', { ...actor, ...payload }, on));
  const fieldsOf = (result: ReturnType<typeof validate>) => (result.ok && result.command.type === 'UpdateProfile' ? result.command.payload.fields : null);

  it('given real codes in any case, then accepted and kept uppercase; NOB stays valid', () => {
    expect(fieldsOf(update({ nationality: 'nor', languagePreferenceISO6393: 'nob', postalAddresses: [{ addressLine1: 'a', postalCode: '1', city: 'c', country: 'Swe' }] }))).toMatchObject({
      nationality: 'NOR',
      languagePreferenceISO6393: 'NOB',
      postalAddresses: [{ country: 'SWE' }],
    });
    for (const language of ['NNO', 'SME', 'ENG', 'UND']) expect(update({ languagePreferenceISO6393: language }).ok, language).toBe(true);
  });

  it.each([
    ['nationality', { nationality: 'XYZ' }, 'payload.nationality: expected ISO 3166-1 alpha-3'],
    ['nationality (a language)', { nationality: 'NOB' }, 'payload.nationality: expected ISO 3166-1 alpha-3'],
    ['language', { languagePreferenceISO6393: 'QQQ' }, 'payload.languagePreferenceISO6393: expected ISO 639-3'],
    ['address country', { postalAddresses: [{ addressLine1: 'a', postalCode: '1', city: 'c', country: 'ZZZ' }] }, 'payload.postalAddresses.0.country: expected ISO 3166-1 alpha-3'],
  ])('given three letters that are no %s code, then INVALID_COMMAND naming the field', (_, payload, message) => {
    expect(rejection(commandJson('UpdateProfile', { ...actor, ...payload }, on))).toEqual({ code: 'INVALID_COMMAND', message });
  });
});

describe('validateCommand: organisations served', () => {
  const servesOneAndTwo = (organisationId: number) => organisationId === 1 || organisationId === 2;

  it('given an organisation outside ORGANISATION_IDS, then UNKNOWN_ORGANISATION, and what could be read is kept', () => {
    const raw = commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' }, { organisationId: 3 });
    const result = validateCommand(raw, headers, now, { servesOrganisation: servesOneAndTwo });
    expect(result).toEqual({
      ok: false,
      rejection: { code: 'UNKNOWN_ORGANISATION', message: 'organisation 3 is not served by this suite' },
      meta: { commandId: raw['commandId'], organisationId: 3, customerNumber: null, commandType: 'CreateProfile' },
    });
  });

  it('given a served organisation, or no restriction, then validated as usual', () => {
    const raw = commandJson('DeactivateCustomer', { ...actor, expirationDate: later }, { organisationId: 2, customerNumber: '5' });
    expect(validateCommand(raw, headers, now, { servesOrganisation: servesOneAndTwo }).ok).toBe(true);
    expect(validateCommand({ ...raw, organisationId: 99 }, headers, now).ok).toBe(true);
  });
});
