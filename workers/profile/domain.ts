// What a command does to a profile (SPEC §3.2, §4): pure functions of the command, the current
// state and a context; no I/O, no clock, no randomness (they come in the context).
import type {
  Actor,
  Command,
  CommandOf,
  PreferenceDefinition,
  Profile,
  RejectionCode,
  TemporaryFields,
} from './model.ts';
import { limits, profileListLimitMessage } from './limits.ts';
import type { ChangeType } from '../../shared/customers/events.ts';

export const defaultLanguage = 'NOB';

/** What decide needs to know besides the profile; lookups see earlier commands of the same batch. */
export type DecideContext = {
  /** ISO 8601 UTC instant of processing. */
  now: string;
  /** The customer number of the profile (other than none) holding this lowercased email, if any. */
  emailOwner: (emailKey: string) => string | null;
  /** The customer number of the profile linked to this account id, if any. */
  accountOwner: (customerAccountId: string) => string | null;
  preference: (key: string) => PreferenceDefinition | null;
  /** Number and uuid for a creation, allocated by the adapter. */
  allocate: () => { customerNumber: string; uuid: string };
};

/** Every command but a merge, which needs two profiles (see {@link decideMerge}). */
export type NonMergeCommand = Exclude<Command, CommandOf<'MergeTemporaryProfile'>>;

export type Decision =
  | { kind: 'rejected'; code: RejectionCode; message: string; version: number | null }
  /** `profile` is the state after the change; `eventType` null when nothing changed. */
  | { kind: 'changed'; profile: Profile; eventType: ChangeType | null; message: string | null }
  | { kind: 'defined'; definition: PreferenceDefinition };

const reject = (code: RejectionCode, message: string, version: number | null = null): Decision => ({ kind: 'rejected', code, message, version });

/** The key under which an email is unique: lowercased, and only while the profile is not deactivated. */
export function emailKeyOf(profile: Pick<Profile, 'email' | 'status'>): string | null {
  return profile.email && profile.status !== 'D' ? profile.email.toLowerCase() : null;
}

/**
 * Whether a command can change the values its profile holds claims for (its email while active, its
 * customer accounts): only then must the loader read those claims (see load.ts). Preferences never
 * can; an UpdateProfile only when it names an email (an UpdateTemporaryProfile overwrites every
 * field: one without an email clears it).
 */
export function mayChangeClaims(command: Command): boolean {
  switch (command.type) {
    case 'SetPreference':
    case 'RemovePreference':
    case 'DefinePreference':
      return false;
    case 'UpdateProfile':
      return command.payload.fields.email !== undefined;
    default:
      return true;
  }
}

/** The same answer for a profile that does not exist and one of another organisation (SPEC §4.1). */
const notFound = (customerNumber: string) => reject('CUSTOMER_NOT_FOUND', `customer ${customerNumber} not found`);

/** Applies a change: bumps the version and the traceability fields, or reports no change. */
function change(before: Profile, after: Profile, eventType: ChangeType, actor: Actor | null, now: string, message: string | null = null): Decision {
  const { version: _v, changedAt: _a, changedBy: _b, changedByChannel: _c, ...restAfter } = after;
  const { version: _v2, changedAt: _a2, changedBy: _b2, changedByChannel: _c2, ...restBefore } = before;
  if (JSON.stringify(restAfter) === JSON.stringify(restBefore)) return { kind: 'changed', profile: before, eventType: null, message: 'no change' };
  return {
    kind: 'changed',
    eventType,
    message,
    profile: {
      ...after,
      version: before.version + 1,
      changedAt: now,
      changedBy: actor ? actor.by : before.changedBy,
      changedByChannel: actor ? actor.channel : before.changedByChannel,
    },
  };
}

function emailConflict(email: string | null | undefined, self: Profile | null, context: DecideContext): Decision | null {
  if (!email) return null;
  const owner = context.emailOwner(email.toLowerCase());
  if (owner === null || owner === self?.customerNumber) return null;
  return reject('EMAIL_TAKEN', 'the email address is used by another profile of the organisation', self?.version ?? null);
}

function newProfile(
  command: CommandOf<'CreateProfile'> | CommandOf<'CreateTemporaryProfile'>,
  context: DecideContext,
  shape: Partial<Profile> & Pick<Profile, 'profileType' | 'firstName' | 'surname'>,
): Profile {
  const { customerNumber, uuid } = context.allocate();
  const { actor } = command.payload;
  return {
    uuid,
    customerNumber,
    customerRef: customerNumber,
    organisationId: command.organisationId,
    status: 'A',
    email: null,
    emailOld: null,
    emailVerifiedAt: null,
    countryCode: null,
    telephoneNumberNoCountryCode: null,
    landlineNumber: null,
    telephoneNumberVerifiedAt: null,
    dateOfBirth: null,
    dateOfDeath: null,
    nationality: null,
    languagePreferenceISO6393: defaultLanguage,
    expirationDate: null,
    relatedCustomerNumbers: [],
    postalAddresses: [],
    preferences: [],
    customerAccounts: [],
    createdAt: context.now,
    createdBy: actor.by,
    createdByChannel: actor.channel,
    changedAt: context.now,
    changedBy: actor.by,
    changedByChannel: actor.channel,
    version: 1,
    ...shape,
  };
}

/** Sets given fields, clears fields given as null, keeps absent ones. Verification stamps follow their value. */
function applyFields(profile: Profile, fields: Record<string, unknown>): Profile {
  const next = { ...profile } as Record<string, unknown>;
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    next[field] = value === null && field === 'postalAddresses' ? [] : value;
  }
  if (fields['customerRef'] === null) next['customerRef'] = profile.customerNumber;
  if (fields['languagePreferenceISO6393'] === null) next['languagePreferenceISO6393'] = defaultLanguage;
  const after = next as Profile;
  if (after.email?.toLowerCase() !== profile.email?.toLowerCase() && fields['emailVerifiedAt'] === undefined) after.emailVerifiedAt = null;
  const phoneChanged = after.countryCode !== profile.countryCode || after.telephoneNumberNoCountryCode !== profile.telephoneNumberNoCountryCode;
  if (phoneChanged && fields['telephoneNumberVerifiedAt'] === undefined) after.telephoneNumberVerifiedAt = null;
  return after;
}

function overwriteTemporary(profile: Profile, fields: TemporaryFields, expirationDate: string): Profile {
  return applyFields({ ...profile, expirationDate }, fields);
}

/**
 * Decides one command against the current profile (null when it does not exist or belongs to
 * another organisation). Merges need two profiles: see {@link decideMerge}.
 */
export function decide(command: NonMergeCommand, profile: Profile | null, context: DecideContext): Decision {
  const { now } = context;
  switch (command.type) {
    case 'CreateProfile': {
      const { fields, profileType } = command.payload;
      const conflict = emailConflict(fields.email, null, context);
      if (conflict) return conflict;
      const created = applyFields(newProfile(command, context, { profileType, firstName: fields.firstName, surname: fields.surname }), fields);
      return { kind: 'changed', profile: created, eventType: 'CREATED', message: null };
    }
    case 'CreateTemporaryProfile': {
      const { fields, expirationDate } = command.payload;
      const conflict = emailConflict(fields.email, null, context);
      if (conflict) return conflict;
      const created = overwriteTemporary(newProfile(command, context, { profileType: 'T', firstName: null, surname: null }), fields, expirationDate);
      return { kind: 'changed', profile: created, eventType: 'CREATED', message: null };
    }
    case 'DefinePreference': {
      const { key, description, allowedValues } = command.payload;
      return { kind: 'defined', definition: { organisationId: command.organisationId, key, description, allowedValues } };
    }
    default:
      break;
  }

  if (!profile || profile.organisationId !== command.organisationId) return notFound(command.customerNumber);
  if (profile.status === 'D' && command.type !== 'RestoreCustomer') {
    return reject('CUSTOMER_DEACTIVATED', `customer ${profile.customerNumber} is deactivated; only RestoreCustomer is accepted`, profile.version);
  }
  const self = profile.customerNumber;

  switch (command.type) {
    case 'UpdateProfile': {
      if (profile.profileType === 'T') return reject('NOT_PERMANENT', `customer ${self} is temporary; use UpdateTemporaryProfile or ConvertToPermanent`, profile.version);
      const conflict = emailConflict(command.payload.fields.email, profile, context);
      if (conflict) return conflict;
      return change(profile, applyFields(profile, command.payload.fields), 'UPDATED', command.payload.actor, now);
    }
    case 'UpdateTemporaryProfile': {
      if (profile.profileType !== 'T') return reject('NOT_TEMPORARY', `customer ${self} is not temporary`, profile.version);
      const conflict = emailConflict(command.payload.fields.email, profile, context);
      if (conflict) return conflict;
      const after = overwriteTemporary(profile, command.payload.fields, command.payload.expirationDate);
      return change(profile, after, 'UPDATED', command.payload.actor, now);
    }
    case 'ConvertToPermanent': {
      if (profile.profileType !== 'T') return reject('NOT_TEMPORARY', `customer ${self} is not temporary`, profile.version);
      const { firstName, surname, email, customerRef, actor } = command.payload;
      const conflict = emailConflict(email, profile, context);
      if (conflict) return conflict;
      const fields = { firstName, surname, ...(email !== undefined ? { email } : {}), ...(customerRef !== undefined ? { customerRef } : {}) };
      const after = applyFields({ ...profile, profileType: 'S', expirationDate: null }, fields);
      return change(profile, after, 'CONVERTED', actor, now);
    }
    case 'SetPreference': {
      const { key, value, actor } = command.payload;
      const definition = context.preference(key);
      if (!definition) return reject('PREFERENCE_NOT_DEFINED', `preference '${key}' is not defined by the organisation`, profile.version);
      if (definition.allowedValues && !definition.allowedValues.includes(value)) {
        // At most ten values named: the answer stays small whatever the definition holds.
        const shown = definition.allowedValues.slice(0, 10).join(', ');
        const more = definition.allowedValues.length > 10 ? ` … (${definition.allowedValues.length} in all)` : '';
        return reject('PREFERENCE_VALUE_NOT_ALLOWED', `value not allowed for preference '${key}'; allowed: ${shown}${more}`, profile.version);
      }
      const others = profile.preferences.filter((preference) => preference.key !== key);
      if (others.length >= limits.preferences) return reject('LIMIT_EXCEEDED', profileListLimitMessage('preferences'), profile.version);
      const preferences = [...others, { key, value }].sort((a, b) => a.key.localeCompare(b.key));
      return change(profile, { ...profile, preferences }, 'UPDATED', actor, now);
    }
    case 'RemovePreference': {
      const preferences = profile.preferences.filter((preference) => preference.key !== command.payload.key);
      return change(profile, { ...profile, preferences }, 'UPDATED', command.payload.actor, now);
    }
    case 'AddCustomerAccount': {
      const { customerAccountId, actor } = command.payload;
      const owner = context.accountOwner(customerAccountId);
      if (owner !== null && owner !== self) return reject('ACCOUNT_TAKEN', 'the customer account is linked to another profile of the organisation', profile.version);
      if (profile.customerAccounts.includes(customerAccountId)) return change(profile, profile, 'UPDATED', actor, now);
      if (profile.customerAccounts.length >= limits.customerAccounts) return reject('LIMIT_EXCEEDED', profileListLimitMessage('customerAccounts'), profile.version);
      return change(profile, { ...profile, customerAccounts: [...profile.customerAccounts, customerAccountId] }, 'UPDATED', actor, now);
    }
    case 'RemoveCustomerAccount': {
      const { customerAccountId, actor } = command.payload;
      const customerAccounts = profile.customerAccounts.filter((account) => account !== customerAccountId);
      return change(profile, { ...profile, customerAccounts }, 'UPDATED', actor, now);
    }
    case 'DeactivateCustomer': {
      const { expirationDate, actor } = command.payload;
      const after: Profile = {
        ...profile,
        status: 'D',
        email: null,
        emailOld: profile.email ?? profile.emailOld,
        expirationDate,
        ...(profile.profileType === 'T' ? { ownExpirationDate: profile.expirationDate } : {}),
      };
      return change(profile, after, 'DEACTIVATED', actor, now);
    }
    case 'RestoreCustomer': {
      if (profile.status !== 'D') return reject('NOT_DEACTIVATED', `customer ${self} is not deactivated`, profile.version);
      const { actor } = command.payload;
      const emailOld = profile.emailOld;
      const owner = emailOld ? context.emailOwner(emailOld.toLowerCase()) : null;
      const emailFree = owner === null || owner === self;
      const { ownExpirationDate, ...rest } = profile;
      const after: Profile = {
        ...rest,
        status: 'A',
        email: emailFree ? emailOld : null,
        emailOld: emailFree ? null : emailOld,
        emailVerifiedAt: emailFree ? profile.emailVerifiedAt : null,
        // A permanent profile has no date. A temporary one gets its own back, or the deactivation's
        // if that is later: a restore never brings an erasure closer than the deactivation had it.
        expirationDate: profile.profileType === 'T' ? laterOf(ownExpirationDate ?? null, profile.expirationDate) : null,
      };
      const message = emailFree ? null : 'restored without email: the address is now used by another active profile of the organisation';
      return change(profile, after, 'RESTORED', actor, now, message);
    }
    default: {
      const unreachable: never = command;
      throw new Error(`unhandled command ${JSON.stringify(unreachable)}`);
    }
  }
}

export type MergeDecision =
  | { kind: 'rejected'; code: RejectionCode; message: string; version: number | null }
  | { kind: 'merged'; permanent: Profile; temporary: Profile };

/**
 * A temporary profile merged into a permanent one: the permanent gains the temporary number in
 * relatedCustomerNumbers and takes over its preferences and customer accounts (the permanent's
 * preference values win); the temporary is erased.
 */
export function decideMerge(command: CommandOf<'MergeTemporaryProfile'>, temporary: Profile | null, permanent: Profile | null, now: string): MergeDecision {
  const { permanentCustomerNumber, actor } = command.payload;
  const org = command.organisationId;
  const notFoundMerge = (customerNumber: string): MergeDecision => ({ kind: 'rejected', code: 'CUSTOMER_NOT_FOUND', message: `customer ${customerNumber} not found`, version: null });
  if (!temporary || temporary.organisationId !== org) return notFoundMerge(command.customerNumber);
  if (temporary.status === 'D') return { kind: 'rejected', code: 'CUSTOMER_DEACTIVATED', message: `customer ${temporary.customerNumber} is deactivated`, version: temporary.version };
  if (temporary.profileType !== 'T') return { kind: 'rejected', code: 'NOT_TEMPORARY', message: `customer ${temporary.customerNumber} is not temporary`, version: temporary.version };
  if (permanentCustomerNumber === temporary.customerNumber) {
    return { kind: 'rejected', code: 'INVALID_COMMAND', message: 'payload.permanentCustomerNumber: must differ from customerNumber', version: temporary.version };
  }
  if (!permanent || permanent.organisationId !== org) return notFoundMerge(permanentCustomerNumber);
  if (permanent.status === 'D') return { kind: 'rejected', code: 'CUSTOMER_DEACTIVATED', message: `customer ${permanent.customerNumber} is deactivated`, version: temporary.version };
  if (permanent.profileType === 'T') return { kind: 'rejected', code: 'NOT_PERMANENT', message: `customer ${permanent.customerNumber} is not permanent`, version: temporary.version };

  const ownKeys = new Set(permanent.preferences.map((preference) => preference.key));
  const preferences = [...permanent.preferences, ...temporary.preferences.filter((preference) => !ownKeys.has(preference.key))].sort((a, b) =>
    a.key.localeCompare(b.key),
  );
  const customerAccounts = [...new Set([...permanent.customerAccounts, ...temporary.customerAccounts])];
  const relatedCustomerNumbers = [...new Set([...permanent.relatedCustomerNumbers, temporary.customerNumber, ...temporary.relatedCustomerNumbers])];
  // A merge that would take a list past its cap is refused whole: dropping what does not fit would
  // lose the temporary profile's data silently, and it is erased right after.
  const over = (
    [
      ['preferences', preferences.length],
      ['customerAccounts', customerAccounts.length],
      ['relatedCustomerNumbers', relatedCustomerNumbers.length],
    ] as const
  ).find(([list, length]) => length > limits[list] && length > permanent[list].length);
  if (over) return { kind: 'rejected', code: 'LIMIT_EXCEEDED', message: profileListLimitMessage(over[0]), version: temporary.version };
  return {
    kind: 'merged',
    temporary,
    permanent: {
      ...permanent,
      preferences,
      customerAccounts,
      relatedCustomerNumbers,
      version: permanent.version + 1,
      changedAt: now,
      changedBy: actor.by,
      changedByChannel: actor.channel,
    },
  };
}

/** The later of two ISO 8601 UTC instants (either may be missing). */
const laterOf = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : Date.parse(a) >= Date.parse(b) ? a : b);
