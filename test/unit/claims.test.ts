import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { claimKeyOf, makeClaimKey } from '../../shared/customers/claims.ts';
import { developmentClaimKeySecret, loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';

const services = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/profiles',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const secret = 'a-secret-of-at-least-thirty-two-characters';

describe('claim keys', () => {
  it('given the same secret, organisation and value, then the same key; another of any of them, another key', () => {
    const key = claimKeyOf(secret, 1, 'kari@example.com');
    expect(makeClaimKey(secret)(1, 'kari@example.com')).toBe(key);
    expect(claimKeyOf(secret, 2, 'kari@example.com')).not.toBe(key);
    expect(claimKeyOf(secret, 1, 'ola@example.com')).not.toBe(key);
    expect(claimKeyOf(`${secret}x`, 1, 'kari@example.com')).not.toBe(key);
  });

  it('given a value, then its key is not a plain hash of it: candidates hashed without the secret do not match', () => {
    const key = claimKeyOf(secret, 1, 'ABT-778812');
    const plain = createHash('sha256').update('ABT-778812').digest('base64url');
    expect(key).toBe(`1:${key.slice(2)}`);
    expect(key).not.toContain(plain);
    expect(key).not.toContain('ABT');
  });
});

describe('CLAIM_KEY_SECRET', () => {
  const messageOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('given NODE_ENV=production and no secret, then the start-up stops naming the variable', () => {
    expect(messageOf({ ...services, NODE_ENV: 'production' })).toContain('CLAIM_KEY_SECRET: is required');
    expect(messageOf({ ...services, NODE_ENV: 'production', CLAIM_KEY_SECRET: '' })).toContain('CLAIM_KEY_SECRET: is required');
  });

  it('given a short secret, then it is refused without echoing it', () => {
    const message = messageOf({ ...services, CLAIM_KEY_SECRET: 'short-secret' });
    expect(message).toContain('CLAIM_KEY_SECRET');
    expect(message).not.toContain('short-secret');
  });

  it('given a secret, then it is used; outside production without one, the public development secret', () => {
    expect(loadConfig({ ...services, NODE_ENV: 'production', CLAIM_KEY_SECRET: secret }).claimKeySecret).toBe(secret);
    expect(loadConfig(services).claimKeySecret).toBe(developmentClaimKeySecret);
  });
});
