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
import { countryCodes, languageCodes } from './codeLists.ts';
import { limits } from './limits.ts';

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
//
// No check may take more than linear time in its input (SPEC §3.4): every string's length is checked
// first and aborts the field, so no pattern or code-list lookup ever sees a long string; and no
// pattern has ambiguous quantifiers (the email check is code, not a pattern).

/** A string of at most `max` characters; a longer one fails here, and no later check of the field runs. */
const bounded = (max: number, message = `at most ${max} characters`) => z.string().max(max, { abort: true, message });
const text = (max: number) => z.string().trim().max(max, { abort: true, message: `at most ${max} characters` }).min(1, 'must not be empty');
const isoDate = bounded(10, 'expected a date YYYY-MM-DD').pipe(z.iso.date({ message: 'expected a date YYYY-MM-DD' }));
const isoInstantMessage = 'expected an ISO 8601 date-time with offset';
const isoInstant = bounded(64, isoInstantMessage)
  .pipe(z.iso.datetime({ offset: true, message: isoInstantMessage }))
  .transform((value) => new Date(value).toISOString());
/** A three-letter code of a real code list, in any case; the suite keeps it uppercase. */
const listedCode = (list: ReadonlySet<string>, message: string) =>
  bounded(3, message)
    .refine((value) => list.has(value.toUpperCase()), message)
    .transform((value) => value.toUpperCase());

/**
 * `local@domain` with no space, exactly one `@`, and a dot inside the domain: the rule of the
 * former pattern `^[^\s@]+@[^\s@]+\.[^\s@]+$`, whose overlapping `[^\s@]+\.[^\s@]+` backtracked
 * quadratically on `a@....@`. One pass over the string.
 */
export function isEmailAddress(value: string): boolean {
  const at = value.indexOf('@');
  if (at <= 0 || value.indexOf('@', at + 1) !== -1 || /\s/.test(value)) return false;
  const domain = value.slice(at + 1);
  return domain.slice(1, -1).includes('.');
}

const postalAddress = z.strictObject({
  addressType: text(32).nullable().default(null),
  addressLine1: text(200),
  addressLine2: text(200).nullable().default(null),
  postalCode: text(16),
  city: text(100),
  country: listedCode(countryCodes, 'expected ISO 3166-1 alpha-3').nullable().default(null),
});

/** Rules of every field a client may set (SPEC §4.2). */
const fieldRules = {
  firstName: text(100),
  surname: text(100),
  email: z.string().trim().max(254, { abort: true, message: 'at most 254 characters' }).refine(isEmailAddress, 'expected an email address'),
  emailVerifiedAt: isoInstant,
  countryCode: bounded(5, "expected '+' and 1-4 digits").regex(/^\+\d{1,4}$/, "expected '+' and 1-4 digits"),
  telephoneNumberNoCountryCode: bounded(20, 'expected at most 20 digits').regex(/^\d{1,20}$/, 'expected digits only'),
  landlineNumber: bounded(21, 'expected at most 20 digits').regex(/^\+?\d{1,20}$/, 'expected digits, optionally after +'),
  telephoneNumberVerifiedAt: isoInstant,
  dateOfBirth: isoDate,
  dateOfDeath: isoDate,
  nationality: listedCode(countryCodes, 'expected ISO 3166-1 alpha-3'),
  customerRef: text(64),
  languagePreferenceISO6393: listedCode(languageCodes, 'expected ISO 639-3'),
  postalAddresses: z.array(postalAddress).max(limits.postalAddresses, `at most ${limits.postalAddresses} addresses`),
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
const preferenceKey = bounded(64, 'expected [A-Za-z0-9_.-]{1,64}').regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected [A-Za-z0-9_.-]{1,64}');
const preferenceValue = bounded(256);
const customerAccountId = text(64);
const customerNumber = bounded(20, 'expected a numeric customer number').regex(/^\d{1,20}$/, 'expected a numeric customer number');

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
export const payloads = {
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
    description: bounded(500).nullable().default(null),
    allowedValues: z
      .array(preferenceValue.min(1, 'must not be empty'))
      .min(1, 'at least one value')
      .max(limits.allowedValues, `at most ${limits.allowedValues} values`)
      .nullable()
      .default(null),
  }),
  SetPreference: z.strictObject({ ...optionalChangedBy, key: preferenceKey, value: preferenceValue }),
  RemovePreference: z.strictObject({ ...optionalChangedBy, key: preferenceKey }),
  AddCustomerAccount: z.strictObject({ ...optionalChangedBy, customerAccountId }),
  RemoveCustomerAccount: z.strictObject({ ...optionalChangedBy, customerAccountId }),
  DeactivateCustomer: z.strictObject({ ...actorFields('changed'), expirationDate: isoInstant }),
  RestoreCustomer: z.strictObject({ ...actorFields('changed') }),
} satisfies Record<CommandType, z.ZodType>;

/**
 * Fields of the old API and what replaced them; rejected with that message (SPEC §3.2). A Map, not
 * an object: a payload key `constructor` or `toString` must not find Object.prototype's.
 */
export const deprecatedFields: ReadonlyMap<string, string> = new Map([
  ['telephoneNumber', 'use countryCode and telephoneNumberNoCountryCode'],
  ['customerAccountId', 'use the AddCustomerAccount and RemoveCustomerAccount commands'],
  ['languagePreference', 'use languagePreferenceISO6393'],
  ['consents', 'use preferences (DefinePreference and SetPreference)'],
  ['consent', 'use preferences (DefinePreference and SetPreference)'],
]);

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

export const typesWithoutCustomer: ReadonlySet<CommandType> = new Set<CommandType>(['CreateProfile', 'CreateTemporaryProfile', 'DefinePreference']);
export const typesWithExpiration: ReadonlySet<CommandType> = new Set<CommandType>(['CreateTemporaryProfile', 'UpdateTemporaryProfile', 'DeactivateCustomer']);

export const envelope = z.strictObject({
  commandId: bounded(128).min(1, 'must not be empty'),
  type: z.string(),
  organisationId: z.number().int('expected an integer').positive('must be > 0').max(Number.MAX_SAFE_INTEGER),
  customerNumber: customerNumber.nullable().optional(),
  payload: z.record(z.string(), z.unknown()),
});

// Result messages never carry unbounded client text: field names a client made up are named only a
// few at a time and cut short, and only the first few problems of a command are described.
const maxNamedKeys = 3;
const maxNameLength = 40;
const maxIssues = 5;

/** A client's field name as a message may show it: at most {@link maxNameLength} characters. */
export const clipName = (name: string) => (name.length > maxNameLength ? `${name.slice(0, maxNameLength)}…` : name);

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  const path = [prefix, ...issue.path.map((part) => clipName(String(part)))].filter(Boolean).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((key) => (path ? `${path}.${clipName(key)}` : clipName(key)));
    if (keys.length > maxNamedKeys) {
      return `${path || 'command'}: ${keys.length.toLocaleString('en')} unknown fields, first: ${issue.keys.slice(0, maxNamedKeys).map(clipName).join(', ')}`;
    }
    return `${keys.join(', ')}: unknown field${keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${path}: required`;
  return `${path}: ${issue.message}`;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string {
  const described = issues.slice(0, maxIssues).map((issue) => describeIssue(issue, prefix));
  const more = issues.length - described.length;
  return more > 0 ? `${described.join('; ')}; and ${more} more` : described.join('; ');
}

const invalid = (message: string): Rejection => ({ code: 'INVALID_COMMAND', message });
const limitExceeded = (message: string): Rejection => ({ code: 'LIMIT_EXCEEDED', message });

/** A command larger than {@link limits.commandBytes} is refused before it is decoded. */
export function checkCommandSize(bytes: number): Rejection | null {
  return bytes > limits.commandBytes ? limitExceeded(`command: at most ${limits.commandBytes} bytes`) : null;
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The limits and keys zod cannot be trusted with, checked before it runs: lists over their cap
 * (their elements are never parsed), objects with too many fields, and `__proto__`, which
 * JSON.parse makes an own key but copying an object (as zod's record does) turns into its
 * prototype, so that the unknown field would vanish instead of being rejected. Only the objects a
 * command may hold are looked at (envelope, payload, addresses): the work is bounded by their
 * field caps, and no client value is walked.
 */
function checkShape(raw: unknown): Rejection | null {
  if (!isRecord(raw)) return null; // the envelope schema says what is wrong
  const payload = raw['payload'];
  const objects: [string, unknown][] = [['', raw], ['payload.', payload]];
  if (isRecord(payload)) {
    const lists = [
      ['postalAddresses', limits.postalAddresses, 'per profile'],
      ['allowedValues', limits.allowedValues, 'per preference'],
    ] as const;
    for (const [list, cap, per] of lists) {
      const value = Object.hasOwn(payload, list) ? payload[list] : undefined;
      if (Array.isArray(value) && value.length > cap) return limitExceeded(`payload.${list}: at most ${cap} ${per}`);
    }
    const addresses = Object.hasOwn(payload, 'postalAddresses') ? payload['postalAddresses'] : undefined;
    if (Array.isArray(addresses)) for (const [index, address] of addresses.entries()) objects.push([`payload.postalAddresses.${index}.`, address]);
  }
  for (const [prefix, value] of objects) {
    if (!isRecord(value)) continue;
    if (Object.hasOwn(value, '__proto__')) return invalid(`${prefix}__proto__: unknown field`);
    if (Object.keys(value).length > limits.fieldsPerObject) return limitExceeded(`${prefix.slice(0, -1) || 'command'}: at most ${limits.fieldsPerObject} fields`);
  }
  return null;
}

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

export type ValidationOptions = {
  /**
   * Whether the suite serves this organisation (ORGANISATION_IDS); a command of another is rejected
   * with UNKNOWN_ORGANISATION before anything is decided, so no topic is ever created for it.
   * @defaultValue every organisation
   */
  servesOrganisation?: (organisationId: number) => boolean;
};

// Pattern of `<company>-<application>`; checked only on a name within its length limit.
export const clientNamePattern = /^[A-Za-z0-9]+(?:[._][A-Za-z0-9]+)*-[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Validates a decoded command object. Order of checks: client name header, limits and shape,
 * envelope, organisation, command type, deprecated and system fields, payload, expiration in the
 * future.
 */
export function validateCommand(raw: unknown, headers: CommandHeaders, now: Date, options: ValidationOptions = {}): Validation {
  const meta = readMeta(raw);
  const reject = (rejection: Rejection): Validation => ({ ok: false, rejection, meta });

  if (!headers.clientName) return reject({ code: 'MISSING_CLIENT_NAME', message: 'header ET-Client-Name is required' });
  if (headers.clientName.length > 128 || !clientNamePattern.test(headers.clientName)) {
    return reject({ code: 'MISSING_CLIENT_NAME', message: 'header ET-Client-Name must be <company>-<application>' });
  }

  const shape = checkShape(raw);
  if (shape) return reject(shape);

  const parsedEnvelope = envelope.safeParse(raw);
  if (!parsedEnvelope.success) return reject(invalid(describeIssues(parsedEnvelope.error.issues, '')));
  const { commandId, type, organisationId, payload } = parsedEnvelope.data;

  if (options.servesOrganisation && !options.servesOrganisation(organisationId)) {
    return reject({ code: 'UNKNOWN_ORGANISATION', message: `organisation ${organisationId} is not served by this suite` });
  }

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
    const replacement = deprecatedFields.get(field);
    const accountCommand = commandType === 'AddCustomerAccount' || commandType === 'RemoveCustomerAccount';
    if (replacement && !(field === 'customerAccountId' && accountCommand)) {
      return reject(invalid(`payload.${field}: deprecated, ${replacement}`));
    }
    if (systemFields.has(field)) return reject(invalid(`payload.${field}: set by the suite, not by commands`));
  }

  const parsedPayload = payloads[commandType].safeParse(payload);
  if (!parsedPayload.success) return reject(invalid(describeIssues(parsedPayload.error.issues, 'payload')));
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
