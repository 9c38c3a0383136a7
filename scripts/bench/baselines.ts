// The reference systems the suite is measured against, on the same stack and the same commands.
import type { Kafka } from 'kafkajs';
import type { Db, Document } from 'mongodb';
import { makeProducer, runConsumer, sendInChunks, type Batch, type KafkaMessage, type RunningConsumer } from '../../shared/kafka.ts';
import { maxStep } from '../../workers/profile/prepare.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';

export type Baseline = {
  stop: () => Promise<void>;
  /** When it first had commands in hand (performance.now()): its rate counts from then. */
  startedAt: () => number | null;
};

type BatchBaseline = { kafka: Kafka; input: string; output: string; groupId: string; logger: Logger; partitions?: number };

/** A baseline that consumes batches (committing as the suite's workers do); `send` passes commands on to `output`. */
async function startBatchBaseline(options: BatchBaseline, handle: (batch: Batch, send: (messages: KafkaMessage[]) => Promise<void>) => Promise<void>): Promise<Baseline> {
  const producer = makeProducer(options.kafka);
  await producer.connect();
  let startedAt: number | null = null;
  const consumer: RunningConsumer = await runConsumer({
    kafka: options.kafka,
    groupId: options.groupId,
    topics: [options.input],
    logger: options.logger,
    fromBeginning: true,
    // As the suite's workers commit by default (KAFKA_COMMIT_INTERVAL_MS).
    commitIntervalMs: 1_000,
    ...(options.partitions !== undefined ? { partitionsConsumedConcurrently: options.partitions } : {}),
    handleBatch: async (batch) => {
      startedAt ??= performance.now();
      await handle(batch, (messages) => sendInChunks(producer, [{ topic: options.output, messages: messages.map((message) => ({ key: message.key, value: message.value })) }]));
    },
  });
  return {
    stop: async () => {
      await consumer.stop();
      await producer.disconnect();
    },
    startedAt: () => startedAt,
  };
}

/**
 * The floor: what the stack itself costs with no domain logic — consume a batch, one bulk write,
 * one batched produce, commit. The suite cannot be faster than this.
 */
export async function startFloor(options: BatchBaseline & { db: Db }): Promise<Baseline> {
  const collection = options.db.collection<{ _id: string; key: string | null; value: string | null }>('floor');
  return startBatchBaseline(options, async (batch, send) => {
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
    await send(batch.messages);
  });
}

/**
 * The floor with the suite's documents: consume a batch and, in steps of at most `maxStep`
 * commands as the profile worker takes one, read and write what the profile worker stores for
 * them — no decisions, no events, one statement per kind — then one batched produce. A command
 * naming a customer: its profile read and replaced under the version read (once per step however
 * many commands name it, as the profile worker writes it), an account claim for an
 * AddCustomerAccount, and a result; a creation: a reservation, an email claim if it has an email,
 * a profile (a copy of `template.profile`) and a result. Code that stores a command's outcome with
 * these documents cannot be faster on this stack; the commands naming a customer find their
 * profiles in `mongo` (copied there first).
 */
export async function startDocumentsFloor(options: BatchBaseline & { mongo: Mongo; partitions: number; template: { profile: Document; result: Document } }): Promise<Baseline> {
  const { db, writes } = options.mongo;
  const profiles = db.collection<Document & { _id: string; version: number }>('profiles');
  const commands = db.collection<Document & { _id: string }>('commands');
  const claims = db.collection<Document & { _id: string }>('emailClaims');
  const accountClaims = db.collection<Document & { _id: string }>('accountClaims');
  // The partitions' writes take turns, as the suite's do (the local server refuses concurrent write transactions: shared/mongo/compat.ts).
  const { turn } = writes;

  async function step(messages: KafkaMessage[], send: (messages: KafkaMessage[]) => Promise<void>): Promise<void> {
    const at = new Date();
    const parsed = messages.map((message) => JSON.parse(message.value?.toString() ?? '{}') as { commandId: string; type: string; customerNumber?: string; payload: { email?: string } });
    const updated = [...new Set(parsed.flatMap((command) => (command.customerNumber ? [command.customerNumber] : [])))];
    const created = parsed.filter((command) => !command.customerNumber);
    const withEmail = created.filter((command) => command.payload.email !== undefined);
    const accounts = parsed.filter((command) => command.type === 'AddCustomerAccount');
    if (updated.length > 0) {
      const found = await profiles.find({ _id: { $in: updated } }).toArray();
      if (found.length > 0) {
        await turn(() =>
          profiles.bulkWrite(
            found.map((doc) => ({ replaceOne: { filter: { _id: doc._id, version: doc.version }, replacement: { ...doc, version: doc.version + 1, changedAt: at.toISOString() } } })),
            { ordered: false },
          ),
        );
      }
    }
    if (created.length > 0) {
      await turn(() => commands.insertMany(created.map((command) => ({ _id: `n:${command.commandId}`, customerNumber: command.commandId, at }))));
      if (withEmail.length > 0) await turn(() => claims.insertMany(withEmail.map((command) => ({ _id: `1:${command.payload.email!}`, customerNumber: command.commandId, at }))));
      await turn(() => profiles.insertMany(created.map((command) => ({ ...options.template.profile, _id: command.commandId, customerNumber: command.commandId, version: 1 }))));
    }
    if (accounts.length > 0) await turn(() => accountClaims.insertMany(accounts.map((command) => ({ _id: `1:${command.commandId}`, customerNumber: command.customerNumber, at }))));
    await send(messages);
    await turn(() => commands.insertMany(parsed.map((command) => ({ ...options.template.result, _id: command.commandId, at }))));
  }

  return startBatchBaseline(options, async (batch, send) => {
    // In steps of at most maxStep commands, as the profile worker takes a batch.
    for (let start = 0; start < batch.messages.length; start += maxStep) await step(batch.messages.slice(start, start + maxStep), send);
  });
}

/** The naive implementation: one message at a time, one findOneAndUpdate and one send each. */
export async function startNaive(options: { kafka: Kafka; db: Db; input: string; output: string; groupId: string }): Promise<Baseline> {
  const producer = makeProducer(options.kafka);
  await producer.connect();
  const profiles = options.db.collection<{ _id: string; version: number; last?: string }>('profiles');
  const consumer = options.kafka.consumer({ groupId: options.groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.input], fromBeginning: true });
  let startedAt: number | null = null;
  await consumer.run({
    eachMessage: async ({ message }) => {
      startedAt ??= performance.now();
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
    startedAt: () => startedAt,
  };
}
