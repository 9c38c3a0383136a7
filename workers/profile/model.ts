// The profile worker's commands (SPEC §3) and preference definitions. Plain types only;
// validation lives in commands.ts, decisions in domain.ts. The customer's own types (profile,
// result, event) are shared: shared/customers/model.ts.
import type { Actor, PersonalFields, PostalAddress } from '../../shared/customers/model.ts';

export * from '../../shared/customers/model.ts';

/** Fields UpdateProfile may set or clear (besides the personal ones). */
export type UpdatableFields = PersonalFields & {
  customerRef: string;
  languagePreferenceISO6393: string;
  postalAddresses: PostalAddress[];
  status: 'A' | 'P';
};

export const temporaryPersonalFields = [
  'firstName',
  'surname',
  'email',
  'countryCode',
  'telephoneNumberNoCountryCode',
  'landlineNumber',
  'dateOfBirth',
] as const;
export type TemporaryFields = { [K in (typeof temporaryPersonalFields)[number]]: string | null };

export const commandTypes = [
  'CreateProfile',
  'UpdateProfile',
  'CreateTemporaryProfile',
  'UpdateTemporaryProfile',
  'ConvertToPermanent',
  'MergeTemporaryProfile',
  'DefinePreference',
  'SetPreference',
  'RemovePreference',
  'AddCustomerAccount',
  'RemoveCustomerAccount',
  'DeactivateCustomer',
  'RestoreCustomer',
] as const;
export type CommandType = (typeof commandTypes)[number];

/** What every validated command carries besides its payload. */
export type CommandMeta = {
  commandId: string;
  organisationId: number;
  correlationId: string;
  clientName: string;
};

type On<T extends CommandType, P> = CommandMeta & { type: T; customerNumber: string; payload: P };
type New<T extends CommandType, P> = CommandMeta & { type: T; customerNumber: null; payload: P };

export type Command =
  | New<'CreateProfile', { actor: Actor; profileType: 'S' | 'P'; fields: Partial<UpdatableFields> & { firstName: string; surname: string } }>
  | On<'UpdateProfile', { actor: Actor; fields: Partial<UpdatableFields> }>
  | New<'CreateTemporaryProfile', { actor: Actor; expirationDate: string; fields: TemporaryFields }>
  | On<'UpdateTemporaryProfile', { actor: Actor; expirationDate: string; fields: TemporaryFields }>
  | On<'ConvertToPermanent', { actor: Actor; firstName: string; surname: string; email?: string | null; customerRef?: string }>
  | On<'MergeTemporaryProfile', { actor: Actor; permanentCustomerNumber: string }>
  | New<'DefinePreference', { key: string; description: string | null; allowedValues: string[] | null }>
  | On<'SetPreference', { actor: Actor | null; key: string; value: string }>
  | On<'RemovePreference', { actor: Actor | null; key: string }>
  | On<'AddCustomerAccount', { actor: Actor | null; customerAccountId: string }>
  | On<'RemoveCustomerAccount', { actor: Actor | null; customerAccountId: string }>
  | On<'DeactivateCustomer', { actor: Actor; expirationDate: string }>
  | On<'RestoreCustomer', { actor: Actor }>;

export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

export type PreferenceDefinition = {
  organisationId: number;
  key: string;
  description: string | null;
  allowedValues: string[] | null;
};
