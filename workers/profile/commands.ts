// Validation of commands (SPEC §3): plain data in, a typed command or a rejection out. Pure: the
// clock is a parameter.
import { z } from 'zod';
import {
  commandTypes,
  temporaryPersonalFields,
  type Actor,
  type Command,
  type CommandMeta,
  type CommandType,
  type RejectionCode,
  type TemporaryFields,
} from './model.ts';

export type Rejection = { code: RejectionCode; message: string };

/** What could be read of a command that was rejected, so its result can say as much. */
export type PartialMeta = {
  commandId: string | null;
  organisationId: number | null;
  customerNumber: string | null;
  commandType: string | null;
};

export type Validation = { ok: true; command: Command } | { ok: false; rejection: Rejection; meta: PartialMeta };

export type CommandHeaders = { clientName: string | null; correlationId: string };

// ---------------------------------------------------------------- field rules

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
const isoDate = z.iso.date({ message: 'expected a date YYYY-MM-DD' });
const isoInstant = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date-time with offset' }).transform((value) => new Date(value).toISOString());
const upperCode = (pattern: RegExp, message: string) => z.string().regex(pattern, message).transform((value) => value.toUpperCase());

const postalAddress = z.strictObject({
  addressType: text(32).nullable().default(null),
  addressLine1: text(200),
  addressLine2: text(200).nullable().default(null),
  postalCode: text(16),
  city: text(100),
  country: upperCode(/^[A-Za-z]{3}$/, 'expected ISO 3166-1 alpha-3').nullable().default(null),
});

/** Rules of every field a client may set (SPEC §4.2). */
const fieldRules = {
  firstName: text(100),
  surname: text(100),
  email: z.string().trim().max(254, 'at most 254 characters').regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'expected an email address'),
  emailVerifiedAt: isoInstant,
  countryCode: z.string().regex(/^\+\d{1,4}$/, "expected '+' and 1-4 digits"),
  telephoneNumberNoCountryCode: z.string().regex(/^\d{1,20}$/, 'expected digits only'),
  landlineNumber: z.string().regex(/^\+?\d{1,20}$/, 'expected digits, optionally after +'),
  telephoneNumberVerifiedAt: isoInstant,
  dateOfBirth: isoDate,
  dateOfDeath: isoDate,
  nationality: upperCode(/^[A-Za-z]{3}$/, 'expected ISO 3166-1 alpha-3'),
  customerRef: text(64),
  languagePreferenceISO6393: upperCode(/^[A-Za-z]{3}$/, 'expected ISO 639-3'),
  postalAddresses: z.array(postalAddress).max(10, 'at most 10 addresses'),
  status: z.enum(['A', 'P'], { message: "expected 'A' or 'P' (deactivate with DeactivateCustomer)" }),
} as const;

const clearable = <T extends z.ZodType>(rule: T) => rule.nullable().optional();

const personalClearable = {
  firstName: clearable(fieldRules.firstName),
  surname: clearable(fieldRules.surname),
  email: clearable(fieldRules.email),
  emailVerifiedAt: clearable(fieldRules.emailVerifiedAt),
  countryCode: clearable(fieldRules.countryCode),
  telephoneNumberNoCountryCode: clearable(fieldRules.telephoneNumberNoCountryCode),
  landlineNumber: clearable(fieldRules.landlineNumber),
  telephoneNumberVerifiedAt: clearable(fieldRules.telephoneNumberVerifiedAt),
  dateOfBirth: clearable(fieldRules.dateOfBirth),
  dateOfDeath: clearable(fieldRules.dateOfDeath),
  nationality: clearable(fieldRules.nationality),
  postalAddresses: clearable(fieldRules.postalAddresses),
};

const actorFields = (prefix: 'created' | 'changed') =>
  ({ [`${prefix}By`]: text(128), [`${prefix}ByChannel`]: text(64) }) as Record<`${typeof prefix}By` | `${typeof prefix}ByChannel`, z.ZodString>;

const optionalChangedBy = { changedBy: text(128).optional(), changedByChannel: text(64).optional() };
const preferenceKey = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected [A-Za-z0-9_.-]{1,64}');
const preferenceValue = z.string().max(256, 'at most 256 characters');
const customerAccountId = text(64);
const customerNumber = z.string().regex(/^\d{1,20}$/, 'expected a numeric customer number');

const temporaryFieldsSchema = {
  firstName: personalClearable.firstName,
  surname: personalClearable.surname,
  email: personalClearable.email,
  countryCode: personalClearable.countryCode,
  telephoneNumberNoCountryCode: personalClearable.telephoneNumberNoCountryCode,
  landlineNumber: personalClearable.landlineNumber,
  dateOfBirth: personalClearable.dateOfBirth,
} satisfies Record<(typeof temporaryPersonalFields)[number], z.ZodType>;

/** Payload schemas by command type; `strictObject` rejects unknown fields. */
const payloads = {
  CreateProfile: z.strictObject({
    ...actorFields('created'),
    profileType: z.enum(['S', 'P'], { message: "expected 'S' or 'P' (temporary profiles: CreateTemporaryProfile)" }).default('S'),
    ...personalClearable,
    firstName: fieldRules.firstName,
    surname: fieldRules.surname,
    customerRef: fieldRules.customerRef.optional(),
    languagePreferenceISO6393: fieldRules.languagePreferenceISO6393.optional(),
    status: fieldRules.status.optional(),
  }),
  UpdateProfile: z.strictObject({
    ...actorFields('changed'),
    ...personalClearable,
    customerRef: fieldRules.customerRef.optional(),
    languagePreferenceISO6393: fieldRules.languagePreferenceISO6393.optional(),
    status: fieldRules.status.optional(),
  }),
  CreateTemporaryProfile: z.strictObject({ ...actorFields('created'), expirationDate: isoInstant, ...temporaryFieldsSchema }),
  UpdateTemporaryProfile: z.strictObject({ ...actorFields('changed'), expirationDate: isoInstant, ...temporaryFieldsSchema }),
  ConvertToPermanent: z.strictObject({
    ...actorFields('changed'),
    firstName: fieldRules.firstName,
    surname: fieldRules.surname,
    email: clearable(fieldRules.email),
    customerRef: fieldRules.customerRef.optional(),
  }),
  MergeTemporaryProfile: z.strictObject({ ...actorFields('changed'), permanentCustomerNumber: customerNumber }),
  DefinePreference: z.strictObject({
    key: preferenceKey,
    description: z.string().max(500, 'at most 500 characters').nullable().default(null),
    allowedValues: z.array(preferenceValue.min(1, 'must not be empty')).min(1, 'at least one value').max(200, 'at most 200 values').nullable().default(null),
  }),
  SetPreference: z.strictObject({ ...optionalChangedBy, key: preferenceKey, value: preferenceValue }),
  RemovePreference: z.strictObject({ ...optionalChangedBy, key: preferenceKey }),
  AddCustomerAccount: z.strictObject({ ...optionalChangedBy, customerAccountId }),
  RemoveCustomerAccount: z.strictObject({ ...optionalChangedBy, customerAccountId }),
  DeactivateCustomer: z.strictObject({ ...actorFields('changed'), expirationDate: isoInstant }),
  RestoreCustomer: z.strictObject({ ...actorFields('changed') }),
} satisfies Record<CommandType, z.ZodType>;

/** Fields of the old API and what replaced them; rejected with that message (SPEC §3.2). */
export const deprecatedFields: Record<string, string> = {
  telephoneNumber: 'use countryCode and telephoneNumberNoCountryCode',
  customerAccountId: 'use the AddCustomerAccount and RemoveCustomerAccount commands',
  languagePreference: 'use languagePreferenceISO6393',
  consents: 'use preferences (DefinePreference and SetPreference)',
  consent: 'use preferences (DefinePreference and SetPreference)',
};

/** Fields the suite owns; a client naming them is told so rather than "unknown field". */
const systemFields = new Set([
  'uuid',
  'customerNumber',
  'organisationId',
  'emailOld',
  'relatedCustomerNumbers',
  'preferences',
  'customerAccounts',
  'createdAt',
  'changedAt',
  'version',
]);

const typesWithoutCustomer = new Set<CommandType>(['CreateProfile', 'CreateTemporaryProfile', 'DefinePreference']);
const typesWithExpiration = new Set<CommandType>(['CreateTemporaryProfile', 'UpdateTemporaryProfile', 'DeactivateCustomer']);

const envelope = z.strictObject({
  commandId: z.string().min(1, 'must not be empty').max(128, 'at most 128 characters'),
  type: z.string(),
  organisationId: z.number().int('expected an integer').positive('must be > 0').max(Number.MAX_SAFE_INTEGER),
  customerNumber: customerNumber.nullable().optional(),
  payload: z.record(z.string(), z.unknown()),
});

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => (path ? `${path}.${key}` : key));
    return `${keys.join(', ')}: unknown field${keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${path}: required`;
  return `${path}: ${issue.message}`;
}

const invalid = (message: string): Rejection => ({ code: 'INVALID_COMMAND', message });

function readMeta(raw: unknown): PartialMeta {
  const record = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const pick = <T>(value: unknown, ok: (v: unknown) => v is T): T | null => (ok(value) ? value : null);
  return {
    commandId: pick(record['commandId'], (v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128),
    organisationId: pick(record['organisationId'], (v): v is number => Number.isSafeInteger(v) && (v as number) > 0),
    customerNumber: pick(record['customerNumber'], (v): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v)),
    commandType: pick(record['type'], (v): v is string => typeof v === 'string' && v.length <= 64),
  };
}

/**
 * Validates a decoded command object. Order of checks: client name header, envelope, command type,
 * deprecated and system fields, payload, expiration in the future.
 */
export function validateCommand(raw: unknown, headers: CommandHeaders, now: Date): Validation {
  const meta = readMeta(raw);
  const reject = (rejection: Rejection): Validation => ({ ok: false, rejection, meta });

  if (!headers.clientName) return reject({ code: 'MISSING_CLIENT_NAME', message: 'header ET-Client-Name is required' });
  if (!/^[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)*-[A-Za-z0-9][A-Za-z0-9._-]*$/.test(headers.clientName) || headers.clientName.length > 128) {
    return reject({ code: 'MISSING_CLIENT_NAME', message: 'header ET-Client-Name must be <company>-<application>' });
  }

  const parsedEnvelope = envelope.safeParse(raw);
  if (!parsedEnvelope.success) return reject(invalid(parsedEnvelope.error.issues.map((issue) => describeIssue(issue, '')).join('; ')));
  const { commandId, type, organisationId, payload } = parsedEnvelope.data;

  if (!(commandTypes as readonly string[]).includes(type)) {
    return reject({ code: 'UNKNOWN_COMMAND_TYPE', message: `unknown command type; expected one of ${commandTypes.join(', ')}` });
  }
  const commandType = type as CommandType;
  const customerNumber = parsedEnvelope.data.customerNumber ?? null;
  if (typesWithoutCustomer.has(commandType)) {
    if (customerNumber !== null) return reject(invalid(`customerNumber: not allowed for ${commandType} (the suite assigns it)`));
  } else if (customerNumber === null) {
    return reject(invalid('customerNumber: required'));
  }

  for (const field of Object.keys(payload)) {
    const replacement = deprecatedFields[field];
    const accountCommand = commandType === 'AddCustomerAccount' || commandType === 'RemoveCustomerAccount';
    if (replacement && !(field === 'customerAccountId' && accountCommand)) {
      return reject(invalid(`payload.${field}: deprecated, ${replacement}`));
    }
    if (systemFields.has(field)) return reject(invalid(`payload.${field}: set by the suite, not by commands`));
  }

  const parsedPayload = payloads[commandType].safeParse(payload);
  if (!parsedPayload.success) return reject(invalid(parsedPayload.error.issues.map((issue) => describeIssue(issue, 'payload')).join('; ')));
  const body = parsedPayload.data as Record<string, unknown>;

  if (typesWithExpiration.has(commandType) && Date.parse(body['expirationDate'] as string) <= now.getTime()) {
    return reject({ code: 'EXPIRATION_IN_PAST', message: 'payload.expirationDate: must be in the future' });
  }

  const base: CommandMeta = { commandId, organisationId, correlationId: headers.correlationId, clientName: headers.clientName };
  return { ok: true, command: toCommand(commandType, base, customerNumber, body) };
}

const actorOf = (body: Record<string, unknown>, prefix: 'created' | 'changed'): Actor => ({
  by: body[`${prefix}By`] as string,
  channel: body[`${prefix}ByChannel`] as string,
});

const optionalActor = (body: Record<string, unknown>): Actor | null =>
  typeof body['changedBy'] === 'string' && typeof body['changedByChannel'] === 'string' ? actorOf(body, 'changed') : null;

/** Fields given in the payload, without the command's own (actor, expiration, type) fields. */
function givenFields(body: Record<string, unknown>, drop: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([key, value]) => value !== undefined && !drop.includes(key)));
}

const temporaryFields = (body: Record<string, unknown>): TemporaryFields =>
  Object.fromEntries(temporaryPersonalFields.map((field) => [field, (body[field] as string | null | undefined) ?? null])) as TemporaryFields;

function toCommand(type: CommandType, meta: CommandMeta, customerNumber: string | null, body: Record<string, unknown>): Command {
  const on = { ...meta, customerNumber: customerNumber! };
  const fresh = { ...meta, customerNumber: null };
  switch (type) {
    case 'CreateProfile':
      return {
        ...fresh,
        type,
        payload: {
          actor: actorOf(body, 'created'),
          profileType: body['profileType'] as 'S' | 'P',
          fields: givenFields(body, ['createdBy', 'createdByChannel', 'profileType']) as CommandOfPayload<'CreateProfile'>['fields'],
        },
      };
    case 'UpdateProfile':
      return { ...on, type, payload: { actor: actorOf(body, 'changed'), fields: givenFields(body, ['changedBy', 'changedByChannel']) } };
    case 'CreateTemporaryProfile':
      return { ...fresh, type, payload: { actor: actorOf(body, 'created'), expirationDate: body['expirationDate'] as string, fields: temporaryFields(body) } };
    case 'UpdateTemporaryProfile':
      return { ...on, type, payload: { actor: actorOf(body, 'changed'), expirationDate: body['expirationDate'] as string, fields: temporaryFields(body) } };
    case 'ConvertToPermanent':
      return {
        ...on,
        type,
        payload: {
          actor: actorOf(body, 'changed'),
          firstName: body['firstName'] as string,
          surname: body['surname'] as string,
          ...(body['email'] !== undefined ? { email: body['email'] as string | null } : {}),
          ...(body['customerRef'] !== undefined ? { customerRef: body['customerRef'] as string } : {}),
        },
      };
    case 'MergeTemporaryProfile':
      return { ...on, type, payload: { actor: actorOf(body, 'changed'), permanentCustomerNumber: body['permanentCustomerNumber'] as string } };
    case 'DefinePreference':
      return {
        ...fresh,
        type,
        payload: { key: body['key'] as string, description: body['description'] as string | null, allowedValues: body['allowedValues'] as string[] | null },
      };
    case 'SetPreference':
      return { ...on, type, payload: { actor: optionalActor(body), key: body['key'] as string, value: body['value'] as string } };
    case 'RemovePreference':
      return { ...on, type, payload: { actor: optionalActor(body), key: body['key'] as string } };
    case 'AddCustomerAccount':
    case 'RemoveCustomerAccount':
      return { ...on, type, payload: { actor: optionalActor(body), customerAccountId: body['customerAccountId'] as string } };
    case 'DeactivateCustomer':
      return { ...on, type, payload: { actor: actorOf(body, 'changed'), expirationDate: body['expirationDate'] as string } };
    case 'RestoreCustomer':
      return { ...on, type, payload: { actor: actorOf(body, 'changed') } };
    default: {
      const unreachable: never = type;
      throw new Error(`unhandled command type ${String(unreachable)}`);
    }
  }
}

type CommandOfPayload<T extends CommandType> = Extract<Command, { type: T }>['payload'];
