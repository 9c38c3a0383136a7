// Profiles for the expiry benchmark, written straight into MongoDB in the shape the profile worker
// stores them (workers/profile/domain.ts newProfile + store.ts ProfileDoc), with their email
// claims, as if they had been created by CreateTemporaryProfile / deactivated by DeactivateCustomer.
import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import type { ClaimKey } from '../../shared/customers/claims.ts';
import type { ClaimDoc } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

export const benchExpiryOrganisation = 1;

/**
 * The i-th profile (customer number `base + i`): even ones temporary (erased at their own
 * expirationDate, reason EXPIRED), odd ones deactivated permanent profiles (DEACTIVATION_EXPIRED).
 * Every one has an email; a deactivated profile's claim was given back (emailKeyOf), a temporary
 * one holds it.
 */
export function benchProfile(index: number, options: { base: number; expirationDate: string; now: string }): ProfileDoc {
  const customerNumber = String(options.base + index);
  const temporary = index % 2 === 0;
  return {
    _id: customerNumber,
    uuid: randomUUID(),
    customerNumber,
    customerRef: customerNumber,
    organisationId: benchExpiryOrganisation,
    profileType: temporary ? 'T' : 'S',
    status: temporary ? 'A' : 'D',
    firstName: temporary ? null : 'Bench',
    surname: temporary ? null : `Expiry${index}`,
    email: `bench-expiry-${customerNumber}@example.com`,
    emailOld: null,
    emailVerifiedAt: null,
    countryCode: '+47',
    telephoneNumberNoCountryCode: String(40_000_000 + (index % 10_000_000)),
    landlineNumber: null,
    telephoneNumberVerifiedAt: null,
    dateOfBirth: null,
    dateOfDeath: null,
    nationality: null,
    languagePreferenceISO6393: 'NOB',
    expirationDate: options.expirationDate,
    relatedCustomerNumbers: [],
    postalAddresses: [],
    preferences: [],
    customerAccounts: [],
    createdAt: options.now,
    createdBy: 'bench-expiry',
    createdByChannel: 'bench',
    changedAt: options.now,
    changedBy: 'bench-expiry',
    changedByChannel: 'bench',
    version: temporary ? 1 : 2,
    pending: [],
  };
}

/** The email claim a profile holds (none for a deactivated one). */
export function claimOf(profile: ProfileDoc, claimKey: ClaimKey): ClaimDoc | null {
  return profile.status === 'D' || !profile.email ? null : { _id: claimKey(profile.organisationId, profile.email.toLowerCase()), customerNumber: profile.customerNumber };
}

export type InsertReport = { documents: number; claims: number; seconds: number; docsPerSecond: number };

/**
 * Inserts `count` profiles (and their claims when `claims`) with insertMany batches of `batch`,
 * one batch at a time (concurrent bulk writes on one database can hang the local server: see
 * shared/mongo/compat.ts).
 */
export async function insertProfiles(
  db: Db,
  options: { count: number; batch: number; claims: ClaimKey | false; make: (index: number) => ProfileDoc; onProgress?: (done: number) => void },
): Promise<InsertReport> {
  const profiles = db.collection<ProfileDoc>('profiles');
  const emailClaims = db.collection<ClaimDoc>('emailClaims');
  const started = performance.now();
  let claims = 0;
  for (let start = 0; start < options.count; start += options.batch) {
    const docs = Array.from({ length: Math.min(options.batch, options.count - start) }, (_, offset) => options.make(start + offset));
    await profiles.insertMany(docs, { ordered: false });
    if (options.claims) {
      const claimKey = options.claims;
      const claimDocs = docs.map((doc) => claimOf(doc, claimKey)).filter((claim): claim is ClaimDoc => claim !== null);
      if (claimDocs.length > 0) await emailClaims.insertMany(claimDocs, { ordered: false });
      claims += claimDocs.length;
    }
    options.onProgress?.(start + docs.length);
  }
  const seconds = (performance.now() - started) / 1_000;
  return { documents: options.count, claims, seconds, docsPerSecond: options.count / seconds };
}
