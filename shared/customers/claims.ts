// Claim keys (SPEC §6): the lookup keys of the values one profile of an organisation may hold alone
// (an email, a customer account id). They are keyed hashes (HMAC-SHA256 with CLAIM_KEY_SECRET), so
// that the claim collections reveal nothing to someone who can hash candidate values: an email, or
// an account id like `ABT-778812`, cannot be recovered without the secret. Shared by the profile
// worker (which takes and releases claims) and the deletion worker (which frees them on erasure).
import { createHmac } from 'node:crypto';

/** The claim key of a value (already normalised by the caller: emails lower-cased). */
export function claimKeyOf(secret: string, organisationId: number, value: string): string {
  return `${organisationId}:${createHmac('sha256', secret).update(value).digest('base64url')}`;
}

/** `claimKey(organisationId, value)` bound to the configured secret. */
export type ClaimKey = (organisationId: number, value: string) => string;

export function makeClaimKey(secret: string): ClaimKey {
  if (secret.length === 0) throw new Error('the claim key secret is empty');
  return (organisationId, value) => claimKeyOf(secret, organisationId, value);
}

/** A claim on a unique value (an email, a customer account) by one profile of an organisation. */
export type ClaimDoc = { _id: string; customerNumber: string; at?: Date };
