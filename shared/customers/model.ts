// A customer as the suite shows it to the outside: the profile (SPEC §4.2), the result of a
// command (§3.3) and the CustomerChanged event (§5). Plain types only, shared by every worker.

export const profileTypes = ['S', 'P', 'T'] as const;
export type ProfileType = (typeof profileTypes)[number];

/** A active, P passive, D deactivated (erased at its expirationDate unless restored). */
export const profileStatuses = ['A', 'P', 'D'] as const;
export type ProfileStatus = (typeof profileStatuses)[number];

export type PostalAddress = {
  addressType: string | null;
  addressLine1: string;
  addressLine2: string | null;
  postalCode: string;
  city: string;
  /** ISO 3166-1 alpha-3 */
  country: string | null;
};

export type PreferenceValue = { key: string; value: string };

/** The personal and contact fields a client sets; each may be null (absent). */
export type PersonalFields = {
  firstName: string | null;
  surname: string | null;
  email: string | null;
  emailVerifiedAt: string | null;
  countryCode: string | null;
  telephoneNumberNoCountryCode: string | null;
  landlineNumber: string | null;
  telephoneNumberVerifiedAt: string | null;
  dateOfBirth: string | null;
  dateOfDeath: string | null;
  nationality: string | null;
};

export type Profile = PersonalFields & {
  uuid: string;
  customerNumber: string;
  customerRef: string;
  organisationId: number;
  profileType: ProfileType;
  status: ProfileStatus;
  emailOld: string | null;
  languagePreferenceISO6393: string;
  expirationDate: string | null;
  relatedCustomerNumbers: string[];
  postalAddresses: PostalAddress[];
  preferences: PreferenceValue[];
  customerAccounts: string[];
  createdAt: string;
  createdBy: string;
  createdByChannel: string;
  changedAt: string;
  changedBy: string | null;
  changedByChannel: string | null;
  version: number;
  /**
   * Internal, never in an event: a deactivated temporary profile's own expirationDate (its
   * `expirationDate` is the deactivation's while deactivated), given back by RestoreCustomer.
   */
  ownExpirationDate?: string | null;
};

/** Who changed what, from the command (GDPR traceability). */
export type Actor = { by: string; channel: string };

export const rejectionCodes = [
  'INVALID_COMMAND',
  'UNKNOWN_COMMAND_TYPE',
  'MISSING_CLIENT_NAME',
  'CUSTOMER_NOT_FOUND',
  'CUSTOMER_DEACTIVATED',
  'NOT_TEMPORARY',
  'NOT_PERMANENT',
  'NOT_DEACTIVATED',
  'EMAIL_TAKEN',
  'ACCOUNT_TAKEN',
  'PREFERENCE_NOT_DEFINED',
  'PREFERENCE_VALUE_NOT_ALLOWED',
  'EXPIRATION_IN_PAST',
  /** An organisation the suite does not serve (ORGANISATION_IDS). */
  'UNKNOWN_ORGANISATION',
  /** A command over one of the limits of SPEC §3.4; the message names the limit. */
  'LIMIT_EXCEEDED',
] as const;
export type RejectionCode = (typeof rejectionCodes)[number];

export type CommandResult = {
  commandId: string;
  correlationId: string;
  clientName: string | null;
  organisationId: number | null;
  customerNumber: string | null;
  commandType: string | null;
  status: 'ACCEPTED' | 'REJECTED';
  code: RejectionCode | null;
  message: string | null;
  version: number | null;
  processedAt: string;
};

export const eventTypes = ['CREATED', 'UPDATED', 'CONVERTED', 'MERGED', 'DEACTIVATED', 'RESTORED', 'DELETED'] as const;
export type EventType = (typeof eventTypes)[number];
export type DeletionReason = 'EXPIRED' | 'DEACTIVATION_EXPIRED' | 'MERGED';

export type CustomerChanged = {
  eventId: string;
  eventType: EventType;
  reason: DeletionReason | null;
  organisationId: number;
  customerNumber: string;
  version: number;
  occurredAt: string;
  changedBy: string | null;
  changedByChannel: string | null;
  commandId: string | null;
  correlationId: string | null;
  mergedInto: string | null;
  profile: Profile | null;
};
