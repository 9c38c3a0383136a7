import { Redis } from 'ioredis';

export type { Redis };

/**
 * A standalone Redis connection (readiness checks, reconciliation, the verifier).
 * `maxRetriesPerRequest: null` lets commands wait through a reconnect instead of failing.
 */
export function makeRedis(url: string, options: { name?: string } = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...(options.name ? { connectionName: options.name } : {}) });
}
