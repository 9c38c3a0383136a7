// Reading topics from the outside (an auditor, an operator, a test): everything from the beginning
// up to the end offsets as they are when the read starts, with a fresh consumer group of its own
// (nothing shared with the suite's groups).
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { KafkaMessage } from './kafka.ts';

export type Consumed = { topic: string; partition: number; message: KafkaMessage };

/** Where to start reading one partition (an operator replaying given offsets). */
export type StartOffset = { topic: string; partition: number; offset: bigint };

/**
 * Every message of `topics` (missing topics count as empty), in partition order, up to the end
 * offsets taken at the start — from the beginning, or from the first message written at or after
 * `fromTimestamp` (ms), or, for a partition listed in `startOffsets`, from that offset (never
 * before the partition's first). Fails after `timeoutMs` naming the partitions not read to the end.
 */
export async function readToEnd(
  kafka: Kafka,
  topics: string[],
  { timeoutMs = 120_000, fromTimestamp, startOffsets = [] }: { timeoutMs?: number; fromTimestamp?: number; startOffsets?: StartOffset[] } = {},
): Promise<Consumed[]> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const wanted = topics.filter((topic) => existing.has(topic));
  const remaining = new Map<string, bigint>(); // `${topic}/${partition}` → last offset to read
  const first = new Map<string, bigint>(); // `${topic}/${partition}` → first offset to read, when not the beginning
  for (const topic of wanted) {
    const starts = fromTimestamp === undefined ? [] : await admin.fetchTopicOffsetsByTimestamp(topic, fromTimestamp);
    for (const { partition, high, low } of await admin.fetchTopicOffsets(topic)) {
      const given = starts.find((start) => start.partition === partition)?.offset;
      const byTimestamp = given !== undefined && BigInt(given) >= 0n ? BigInt(given) : fromTimestamp === undefined ? BigInt(low) : BigInt(high);
      const explicit = startOffsets.find((start) => start.topic === topic && start.partition === partition)?.offset;
      const start = explicit === undefined ? byTimestamp : explicit > BigInt(low) ? explicit : BigInt(low);
      if (BigInt(high) <= start) continue;
      remaining.set(`${topic}/${partition}`, BigInt(high) - 1n);
      if (start > BigInt(low)) first.set(`${topic}/${partition}`, start);
    }
  }
  await admin.disconnect();
  const out: Consumed[] = [];
  if (remaining.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `audit-${randomBytes(5).toString('hex')}`, maxBytesPerPartition: 4 * 1024 * 1024, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: wanted, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 8,
    eachBatch: async ({ batch }) => {
      const place = `${batch.topic}/${batch.partition}`;
      const last = remaining.get(place);
      const from = first.get(place) ?? -1n;
      for (const message of batch.messages) {
        if (BigInt(message.offset) < from) continue;
        if (last === undefined || BigInt(message.offset) > last) break;
        out.push({ topic: batch.topic, partition: batch.partition, message });
        if (BigInt(message.offset) === last) remaining.delete(place);
      }
    },
  });
  for (const [place, offset] of first) {
    const cut = place.lastIndexOf('/');
    consumer.seek({ topic: place.slice(0, cut), partition: Number(place.slice(cut + 1)), offset: String(offset) });
  }
  try {
    const deadline = Date.now() + timeoutMs;
    while (remaining.size > 0) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms reading ${wanted.join(', ')}; not read to the end: ${[...remaining.keys()].join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Kafka headers as plain strings (first value of each). */
export function headersOf(message: KafkaMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(message.headers ?? {}).map(([key, value]) => [key, String(Array.isArray(value) ? value[0] : value)]),
  );
}
