import { randomInt } from 'node:crypto';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A profile's uuid (SPEC §4.1): 32 random alphanumeric characters. */
export function newProfileUuid(): string {
  let uuid = '';
  for (let index = 0; index < 32; index++) uuid += alphabet[randomInt(alphabet.length)];
  return uuid;
}
