// Re-keys the claim collections after a change of CLAIM_KEY_SECRET (or from the plain SHA-256 keys
// of versions before it): every claim whose owner profile still holds the value is written again
// under the new key, and the old key goes. Run it with the suite stopped (a running profile worker
// would keep writing claims with the secret it started with):
//
//   CLAIM_KEY_SECRET=<new> CLAIM_KEY_SECRET_PREVIOUS=<old> node scripts/rekeyClaims.ts
//   CLAIM_KEY_SECRET=<new> node scripts/rekeyClaims.ts --from-plain-sha256
//
// Idempotent: a claim already under its new key is left alone, so an interrupted run is run again.
// A claim whose owner is gone is dropped (it held an erased customer's number); one whose owner no
// longer holds any value it could stand for is left alone and counted (`unknown`).
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Collection, Db } from 'mongodb';
import { makeClaimKey, type ClaimKey } from '../shared/customers/claims.ts';
import { loadConfig } from '../shared/config.ts';
import { byIds, inTurn } from '../shared/mongo/compat.ts';
import { connectMongo } from '../shared/mongo/connect.ts';
import { useLocalStackWhenUnconfigured } from './stackEnv.ts';
import type { ClaimDoc } from '../shared/customers/claims.ts';
import type { ProfileDoc } from '../shared/customers/document.ts';

/** The keys of versions before CLAIM_KEY_SECRET: an unkeyed SHA-256. */
export const plainSha256Key: ClaimKey = (organisationId, value) => `${organisationId}:${createHash('sha256').update(value).digest('base64url')}`;

export type RekeyReport = { rekeyed: number; current: number; dropped: number; unknown: number };

/** The values a profile may hold a claim for, per collection. */
const valuesOf = {
  emailClaims: (profile: ProfileDoc) => [profile.email, profile.emailOld].flatMap((email) => (email ? [email.toLowerCase()] : [])),
  accountClaims: (profile: ProfileDoc) => profile.customerAccounts,
} as const;

export async function rekeyClaims(db: Db, keys: { previous: ClaimKey; next: ClaimKey }, options: { batch?: number } = {}): Promise<RekeyReport> {
  const report: RekeyReport = { rekeyed: 0, current: 0, dropped: 0, unknown: 0 };
  const profiles: Collection<ProfileDoc> = db.collection('profiles');
  for (const name of ['emailClaims', 'accountClaims'] as const) {
    const claims: Collection<ClaimDoc> = db.collection(name);
    // Read the whole list of ids first: the loop inserts into the collection it reads.
    const ids = await claims.find({}, { projection: { _id: 1 } }).map((claim) => claim._id).toArray();
    for (let start = 0; start < ids.length; start += options.batch ?? 1_000) {
      const batch = [...(await byIds(claims, ids.slice(start, start + (options.batch ?? 1_000)))).values()];
      const owners = await byIds(profiles, batch.map((claim) => claim.customerNumber));
      const inserts: ClaimDoc[] = [];
      const deletes: string[] = [];
      for (const claim of batch) {
        const owner = owners.get(claim.customerNumber);
        if (!owner) {
          deletes.push(claim._id);
          report.dropped += 1;
          continue;
        }
        const values = valuesOf[name](owner);
        if (values.some((value) => keys.next(owner.organisationId, value) === claim._id)) {
          report.current += 1;
          continue;
        }
        const value = values.find((candidate) => keys.previous(owner.organisationId, candidate) === claim._id);
        if (value === undefined) {
          report.unknown += 1;
          continue;
        }
        inserts.push({ ...claim, _id: keys.next(owner.organisationId, value) });
        deletes.push(claim._id);
        report.rekeyed += 1;
      }
      // New keys first, so that a value is never unclaimed in between; one already there (a run
      // interrupted after its inserts) stands. The suite is stopped: no write turn to take.
      await inTurn.insertOnce(claims, inserts);
      if (deletes.length > 0) await claims.deleteMany({ _id: { $in: deletes } });
    }
  }
  return report;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'from-plain-sha256': { type: 'boolean', default: false } } });
  useLocalStackWhenUnconfigured({ start: false });
  const previousSecret = process.env['CLAIM_KEY_SECRET_PREVIOUS'];
  if (!values['from-plain-sha256'] && !previousSecret) {
    console.error('usage: CLAIM_KEY_SECRET=<new> CLAIM_KEY_SECRET_PREVIOUS=<old> node scripts/rekeyClaims.ts  (or --from-plain-sha256 instead of the previous secret)');
    process.exit(2);
  }
  const config = loadConfig({ ...process.env, BOARD_DISABLED: 'true' });
  const mongo = await connectMongo(config.mongoUri);
  try {
    const report = await rekeyClaims(mongo.db, { previous: previousSecret ? makeClaimKey(previousSecret) : plainSha256Key, next: makeClaimKey(config.claimKeySecret) });
    console.log(JSON.stringify(report));
  } finally {
    await mongo.close();
  }
}

if (import.meta.main) await main();
