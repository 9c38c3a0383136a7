// `profiles tail`: an organisation's CustomerChanged events, decoded, one JSON line each, read the
// way a subscriber reads them (a consumer group of its own, nothing committed). Without --follow:
// what the topic holds now (from the beginning, or --since), then exit. With --follow: from the end
// (or the beginning, or --since) until Ctrl-C.
import { randomUUID } from 'node:crypto';
import type { Admin } from 'kafkajs';
import { makeAvroCodec, type AvroCodec } from '../../shared/avro.ts';
import type { KafkaMessage } from '../../shared/kafka.ts';
import { readToEnd } from '../../shared/topicReader.ts';
import { UsageError } from './arguments.ts';
import { openSession, printLine, untilInterrupted } from './session.ts';

export type TailOptions = {
  organisationId: number;
  follow: boolean;
  /** With --follow: start at the beginning instead of the end. */
  fromBeginning: boolean;
  /** Start at the first event written at or after this time. */
  since?: Date;
  /** Only this customer's events. */
  customer?: string;
};

/** One event as printed: where it is in the topic, and the decoded event (or why it could not be decoded). */
export async function eventLineOf(codec: Pick<AvroCodec, 'decode'>, partition: number, message: KafkaMessage): Promise<Record<string, unknown>> {
  const where = { partition, offset: message.offset, timestamp: new Date(Number(message.timestamp)).toISOString(), key: message.key?.toString() ?? null };
  if (!message.value) return { ...where, event: null };
  try {
    return { ...where, event: (await codec.decode(message.value)).value };
  } catch (error) {
    return { ...where, error: `not decodable: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Where a followed partition starts: the end, the beginning, or the first record at or after a time. */
async function startOffsets(admin: Admin, topic: string, options: TailOptions): Promise<{ partition: number; offset: string }[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  if (options.since) {
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, options.since.getTime());
    // -1: nothing written since then; start at the end.
    return offsets.map(({ partition, high }) => {
      const found = byTime.find((entry) => entry.partition === partition)?.offset;
      return { partition, offset: found !== undefined && BigInt(found) >= 0n ? found : high };
    });
  }
  return offsets.map(({ partition, low, high }) => ({ partition, offset: options.fromBeginning ? low : high }));
}

export async function tailEvents(options: TailOptions): Promise<void> {
  const { config, kafka, names } = openSession('tail');
  const topic = names.customerChanged(options.organisationId);
  const codec = makeAvroCodec(config.registryUrl);
  const print = async (partition: number, message: KafkaMessage) => {
    if (options.customer !== undefined && message.key?.toString() !== options.customer) return;
    printLine(await eventLineOf(codec, partition, message));
  };

  const admin = kafka.admin();
  await admin.connect();
  let starts: { partition: number; offset: string }[] = [];
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new UsageError(`${topic} does not exist: organisation ${options.organisationId} has no events yet (or PROFILES_ENV is not the suite's)`);
    if (options.follow) starts = await startOffsets(admin, topic, options);
  } finally {
    await admin.disconnect();
  }

  if (!options.follow) {
    for (const { partition, message } of await readToEnd(kafka, [topic], options.since ? { fromTimestamp: options.since.getTime() } : {})) await print(partition, message);
    return;
  }

  const consumer = kafka.consumer({ groupId: `profiles-cli-tail-${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    await untilInterrupted(async (stopped) => {
      const crashed = new Promise<never>((_, reject) =>
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          if (!payload.restart) reject(payload.error);
        }),
      );
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning });
      await consumer.run({ autoCommit: false, eachMessage: ({ partition, message }) => print(partition, message) });
      for (const { partition, offset } of starts) consumer.seek({ topic, partition, offset });
      await Promise.race([joined, stopped, crashed]);
      const from = options.since ? `from ${options.since.toISOString()}` : options.fromBeginning ? 'from the beginning' : 'from the end';
      console.error(`following ${topic} ${from}; Ctrl-C to stop`);
      await Promise.race([stopped, crashed]);
    });
  } finally {
    await consumer.disconnect();
  }
}
