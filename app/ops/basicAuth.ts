import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

export type Credentials = { user: string; password: string };

/** The user and password of an `Authorization: Basic …` header; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): Credentials | undefined {
  const match = header === undefined ? null : /^basic +([a-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // The user cannot contain a colon (RFC 7617); the password can.
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * True when `given` is exactly `expected`. Constant time: both sides are hashed to the same length
 * (timingSafeEqual needs equal lengths, and this hides the expected lengths too) and both fields
 * are always compared, so timing tells nothing about which part or how much of it was right.
 */
export function credentialsMatch(given: Credentials | undefined, expected: Credentials): boolean {
  const candidate = given ?? { user: '', password: '' };
  const userMatches = timingSafeEqual(digest(candidate.user), digest(expected.user));
  const passwordMatches = timingSafeEqual(digest(candidate.password), digest(expected.password));
  return given !== undefined && userMatches && passwordMatches;
}

/**
 * Express middleware: lets a request through only with the expected basic-auth credentials,
 * otherwise 401 with a challenge. Never logs what was sent (a user name may be a person's).
 */
export function requireBasicAuth(expected: Credentials, realm: string): RequestHandler {
  return (req, res, next) => {
    if (credentialsMatch(parseBasicAuth(req.headers.authorization), expected)) return next();
    res.set('WWW-Authenticate', `Basic realm="${realm}"`).status(401).json({ error: 'unauthorized' });
  };
}
