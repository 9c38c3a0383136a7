// A reader that counts what a system under test produced, with when it saw the last.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../../shared/logger.ts';
import { runConsumer, type KafkaMessage, type RunningConsumer } from '../../shared/kafka.ts';

export type Observer = {
  counts: Map<string, number>;
  lastAt: number | null;
  stop: () => Promise<void>;
};

export async function observe(options: {
  kafka: Kafka;
  topics: string[];
  logger: Logger;
  groupId: string;
  /** Called for every message seen, with the time it was seen. */
  onMessage?: (topic: string, message: KafkaMessage, seenAt: number) => void | Promise<void>;
}): Promise<Observer> {
  const observer: Observer = { counts: new Map(), lastAt: null, stop: async () => undefined };
  let consumer: RunningConsumer | undefined;
  consumer = await runConsumer({
    kafka: options.kafka,
    groupId: options.groupId,
    topics: options.topics,
    logger: options.logger,
    fromBeginning: true,
    partitionsConsumedConcurrently: 8,
    // A commit per small batch would be a broker write each, on the cores the suite runs on.
    commitIntervalMs: 1_000,
    handleBatch: async (batch) => {
      const seenAt = performance.now();
      observer.lastAt = seenAt;
      observer.counts.set(batch.topic, (observer.counts.get(batch.topic) ?? 0) + batch.messages.length);
      if (options.onMessage) for (const message of batch.messages) await options.onMessage(batch.topic, message, seenAt);
    },
  });
  observer.stop = () => consumer!.stop();
  return observer;
}

/** Polls until `done` is true, printing progress to stderr every second. */
export async function progress(label: string, done: () => boolean, status: () => string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  let lastPrint = 0;
  while (!done()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${label}: timed out after ${timeoutMs / 1000} s (${status()})`);
    if (Date.now() - lastPrint >= 1_000) {
      process.stderr.write(`\r[bench] ${label}: ${status()}   `);
      lastPrint = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  process.stderr.write(`\r[bench] ${label}: ${status()} — done\n`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}
