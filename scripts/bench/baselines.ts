// The two reference systems the suite is measured against, on the same stack and the same commands.
import type { Kafka } from 'kafkajs';
import type { Db } from 'mongodb';
import { makeProducer, runConsumer, sendInChunks, type RunningConsumer } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';

export type Baseline = { stop: () => Promise<void> };

/**
 * The floor: what the stack itself costs with no domain logic — consume a batch, one bulk write,
 * one batched produce, commit. The suite cannot be faster than this.
 */
export async function startFloor(options: { kafka: Kafka; db: Db; input: string; output: string; groupId: string; logger: Logger }): Promise<Baseline> {
  const producer = makeProducer(options.kafka);
  await producer.connect();
  const collection = options.db.collection<{ _id: string; key: string | null; value: string | null }>('floor');
  const consumer: RunningConsumer = await runConsumer({
    kafka: options.kafka,
    groupId: options.groupId,
    topics: [options.input],
    logger: options.logger,
    fromBeginning: true,
    // As the suite's workers commit by default (KAFKA_COMMIT_INTERVAL_MS).
    commitIntervalMs: 1_000,
    handleBatch: async (batch) => {
      await collection.bulkWrite(
        batch.messages.map((message) => ({
          replaceOne: {
            filter: { _id: `${batch.partition}-${message.offset}` },
            replacement: { _id: `${batch.partition}-${message.offset}`, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null },
            upsert: true,
          },
        })),
        { ordered: false },
      );
      await sendInChunks(producer, [{ topic: options.output, messages: batch.messages.map((message) => ({ key: message.key, value: message.value })) }]);
    },
  });
  return {
    stop: async () => {
      await consumer.stop();
      await producer.disconnect();
    },
  };
}

/** The naive implementation: one message at a time, one findOneAndUpdate and one send each. */
export async function startNaive(options: { kafka: Kafka; db: Db; input: string; output: string; groupId: string }): Promise<Baseline> {
  const producer = makeProducer(options.kafka);
  await producer.connect();
  const profiles = options.db.collection<{ _id: string; version: number; last?: string }>('profiles');
  const consumer = options.kafka.consumer({ groupId: options.groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.input], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const command = JSON.parse(message.value?.toString() ?? '{}') as { commandId?: string; customerNumber?: string };
      const id = command.customerNumber ?? command.commandId ?? 'unknown';
      const doc = await profiles.findOneAndUpdate({ _id: id }, { $set: { last: message.value?.toString() ?? '' }, $inc: { version: 1 } }, { upsert: true, returnDocument: 'after' });
      await producer.send({ topic: options.output, acks: -1, messages: [{ key: message.key, value: JSON.stringify({ commandId: command.commandId, version: doc?.version }) }] });
    },
  });
  return {
    stop: async () => {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
