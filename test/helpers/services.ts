import { randomBytes } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import { loadConfig, type Config } from '../../shared/config.ts';
import { makeLogger, type Logger } from '../../shared/logger.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { connectMongo, type Mongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';

/** A short random name for a topic, group, database or queue, so tests never share state. */
export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** The suite's configuration against the test stack, with a random PROFILES_ENV of its own. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...inject('services'), PROFILES_ENV: randomName('test'), LOG_LEVEL: 'warn', BOARD_DISABLED: 'true', ...overrides });
}

export function testLogger(): Logger {
  return makeLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'fatal', name: 'test' });
}

/** Registers a clean-up that runs when the current test ends, pass or fail. */
export function cleanup(fn: () => Promise<unknown> | unknown): void {
  onTestFinished(async () => {
    await fn();
  });
}

/**
 * Deletes the topics of a PROFILES_ENV when the current test ends (the suite creates them as it
 * starts): the stack is shared by every run on the machine, and a broker that keeps thousands of
 * test partitions is slower for everything after.
 */
export function deletesTopicsOf(env: string): void {
  cleanup(async () => {
    const admin = makeKafka({ brokers: inject('services').KAFKA_BROKERS.split(','), clientId: randomName('cleanup'), logger: testLogger() }).admin();
    await admin.connect();
    try {
      const names = topics(env);
      const own = new Set([names.commands, names.results, names.dlq, names.expirations]);
      const mine = (await admin.listTopics()).filter((topic) => own.has(topic) || topic.startsWith(names.customerChanged(0).slice(0, -1)));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  });
}

/** A connection to a database of its own (a random name), dropped and closed when the current test ends. */
export async function freshMongo(prefix: string, mongoUri = testConfig().mongoUri): Promise<Mongo> {
  const mongo = await connectMongo(mongoUri, { dbName: randomName(prefix).replace('-', '_') });
  cleanup(async () => {
    await mongo.db.dropDatabase();
    await mongo.close();
  });
  return mongo;
}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`
 * with the description, so a test waits for a condition instead of sleeping.
 */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
