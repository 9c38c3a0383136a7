import { describe, expect, it } from 'vitest';
import { credentialsMatch, parseBasicAuth } from '../../app/ops/basicAuth.ts';

describe('basic-auth credential check', () => {
  const expected = { user: 'operator', password: 'pa:ss wörd' };
  const header = (raw: string) => `Basic ${Buffer.from(raw).toString('base64')}`;

  it('accepts exactly the expected user and password, colons in the password included', () => {
    expect(credentialsMatch(parseBasicAuth(header('operator:pa:ss wörd')), expected)).toBe(true);
    expect(credentialsMatch(parseBasicAuth(`basic  ${Buffer.from('operator:pa:ss wörd').toString('base64')}`), expected)).toBe(true);
  });

  it('rejects a wrong, longer, shorter or empty part, and no credentials at all', () => {
    for (const raw of ['operator:pa:ss wörd ', 'operator:pa:ss', 'Operator:pa:ss wörd', 'operator:', ':pa:ss wörd', ':']) {
      expect(credentialsMatch(parseBasicAuth(header(raw)), expected)).toBe(false);
    }
    expect(credentialsMatch(undefined, expected)).toBe(false);
  });

  it('reads nothing from a missing or malformed header', () => {
    for (const value of [undefined, '', 'Basic', 'Basic !!!', 'Bearer abc', header('no colon')]) {
      expect(parseBasicAuth(value)).toBeUndefined();
    }
  });
});
