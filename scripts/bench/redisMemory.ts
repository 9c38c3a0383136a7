// Redis memory as the expiry benchmark reads it: the server's used_memory (INFO memory), and the
// keys under a prefix with what MEMORY USAGE says they take (isolated from other users of Redis).
import type { Redis } from '../../shared/redis.ts';

export async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (!match) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

export type KeySpace = { keys: number; bytes: number; jobHashes: number };

/** Every key matching `pattern` (SCAN), with the sum of their MEMORY USAGE (all samples). */
export async function keySpace(redis: Redis, pattern: string): Promise<KeySpace> {
  let cursor = '0';
  const space: KeySpace = { keys: 0, bytes: 0, jobHashes: 0 };
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', 0);
    const results = (await pipeline.exec()) ?? [];
    space.keys += keys.length;
    for (const [error, bytes] of results) if (!error) space.bytes += Number(bytes ?? 0);
    space.jobHashes += keys.filter((key) => /:erase-[0-9a-f]+$/.test(key)).length;
  } while (cursor !== '0');
  return space;
}

/** Deletes every key matching `pattern` (what obliterate may leave: the queue's meta keys). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}
