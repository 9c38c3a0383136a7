import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { basicAuthHeader, redactSecrets, redactUrl, redactUrlsIn, secretsOf, splitCredentials } from '../../shared/serviceUrls.ts';

describe('service URLs with credentials', () => {
  it('given a URL with credentials, then the bare URL and the decoded credentials', () => {
    expect(splitCredentials('http://user:p%40ss@registry:8081/apis/ccompat/v7')).toEqual({ url: 'http://registry:8081/apis/ccompat/v7', username: 'user', password: 'p@ss' });
    expect(splitCredentials('http://registry:8081')).toEqual({ url: 'http://registry:8081', username: '', password: '' });
    expect(splitCredentials('http://u:p@registry:8081')).toMatchObject({ url: 'http://registry:8081' });
    expect(basicAuthHeader('http://user:p%40ss@registry')).toEqual({ authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}` });
    expect(basicAuthHeader('http://registry')).toEqual({});
  });

  it('given URLs inside a text, then every password is replaced and the rest is kept', () => {
    expect(redactUrl('mongodb://admin:secret@db1:27017,db2:27017/profiles?authSource=admin')).toBe('mongodb://admin:***@db1:27017,db2:27017/profiles?authSource=admin');
    expect(redactUrl('redis://:token@cache:6379')).toBe('redis://***@cache:6379');
    expect(redactUrl('redis://token@cache:6379')).toBe('redis://***@cache:6379');
    expect(redactUrl('http://registry:8081/a@b')).toBe('http://registry:8081/a@b');
    expect(redactUrlsIn('Request cannot be constructed from a URL that includes credentials: http://user:secret@host/subjects, then http://x:y@z')).toBe(
      'Request cannot be constructed from a URL that includes credentials: http://user:***@host/subjects, then http://x:***@z',
    );
  });

  it('given known secrets, then they are removed wherever they appear, plain or percent-encoded', () => {
    const secrets = secretsOf(['http://user:p@ss word@registry', 'redis://tokenvalue@cache', 'mongodb://db']);
    expect(secrets).toEqual(['p@ss word', 'tokenvalue']);
    expect(redactSecrets('auth failed for p@ss word, p%40ss%20word and tokenvalue', secrets)).toBe('auth failed for ***, *** and ***');
  });

  it('property: a password never survives redaction, and redaction is linear', () => {
    fc.assert(
      fc.property(fc.string(), fc.stringMatching(/^[A-Za-z0-9]{4,20}$/), fc.string(), (before, password, after) => {
        const text = `${before} http://user:${password}@host/path ${after}`;
        expect(redactSecrets(text, [password])).not.toContain(password);
      }),
    );
    const hostile = `${'a://'.repeat(50_000)}${'x'.repeat(200_000)}@`;
    const started = performance.now();
    redactUrlsIn(hostile);
    redactUrlsIn(`http://${'a'.repeat(500_000)}`);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
