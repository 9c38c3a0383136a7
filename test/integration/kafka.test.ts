import { describe, expect, it } from 'vitest';
import { defaultMaxMessageBytes, ensureTopics, topicConfigOf, makeKafka, makeProducer, makeTopicLimits, runConsumer, sendInChunks, type KafkaMessage } from '../../shared/kafka.ts';
import { cleanup, randomName, testConfig, testLogger, waitFor } from '../helpers/services.ts';
import { eventTopicConfig, retainedTopicConfig } from '../../shared/topicConfigs.ts';
import { readToEnd, type Consumed } from '../../shared/topicReader.ts';

describe('kafka adapter', () => {
  const config = testConfig();
  const logger = testLogger();
  const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: randomName('smoke'), logger });

  /** A new topic with an admin and a producer, all removed after the test. */
  async function withTopic(numPartitions: number, configEntries?: { name: string; value: string }[]) {
    const topic = randomName('smoke-topic');
    const admin = kafka.admin();
    await admin.connect();
    cleanup(async () => {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    });
    await ensureTopics(admin, [{ topic, numPartitions, ...(configEntries ? { config: Object.fromEntries(configEntries.map(({ name, value }) => [name, value])) } : {}) }]);
    const producer = makeProducer(kafka);
    await producer.connect();
    cleanup(() => producer.disconnect());
    return { topic, admin, producer };
  }

  it('creates a topic with its configuration: an event topic compacted with its lags, a command topic with its retention', async () => {
    const { topic, admin } = await withTopic(1);
    const events = randomName('smoke-events');
    const commands = randomName('smoke-commands');
    cleanup(() => admin.deleteTopics({ topics: [events, commands] }).catch(() => undefined));
    const retention = { eventMinCompactionLagMs: 0, eventMaxCompactionLagMs: 5_000, commandRetentionMs: 3_600_000, dlqRetentionMs: 7_200_000 };
    expect(await ensureTopics(admin, [{ topic: events, numPartitions: 1, config: eventTopicConfig(retention) }, { topic: commands, numPartitions: 1, config: retainedTopicConfig(retention.commandRetentionMs) }])).toEqual([]);
    expect(await topicConfigOf(admin, events)).toMatchObject({ 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'max.compaction.lag.ms': '5000', 'segment.ms': '5000' });
    expect(await topicConfigOf(admin, commands)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '3600000', 'segment.ms': String(Math.floor(3_600_000 / 7)) });
    expect(await topicConfigOf(admin, topic)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '604800000' }); // no configuration asked: the broker's
  });

  it('aligns a topic that exists with the broker defaults to its configuration, keeping its other overrides', async () => {
    const { topic, admin } = await withTopic(1, [{ name: 'max.message.bytes', value: '500000' }]);
    const wanted = eventTopicConfig({ eventMinCompactionLagMs: 3_600_000, eventMaxCompactionLagMs: 86_400_000, commandRetentionMs: 1, dlqRetentionMs: 1 });
    expect(await ensureTopics(admin, [{ topic, numPartitions: 1, config: wanted }], { logger })).toEqual([]);
    expect(await topicConfigOf(admin, topic)).toMatchObject({ ...wanted, 'max.message.bytes': '500000' });
    expect(await ensureTopics(admin, [{ topic, numPartitions: 1, config: wanted }])).toEqual([]); // aligned: nothing to change
  });

  it('names a topic whose configuration the broker refuses, instead of running with the wrong one', async () => {
    const { topic, admin } = await withTopic(1);
    // A value the broker refuses stands for one it forbids (no permission, a policy).
    const unaligned = await ensureTopics(admin, [{ topic, numPartitions: 1, config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '-5' } }], { logger });
    expect(unaligned).toEqual([{ topic, reason: expect.stringContaining('cleanup.policy=compact') }]);
  });

  it('reads a topic to its end from the beginning, or only what was written from a given time on', async () => {
    const { topic, producer } = await withTopic(2);
    await producer.send({ topic, messages: ['a', 'b', 'c'].map((value) => ({ key: value, value, timestamp: String(Date.now() - 60_000) })) });
    const since = Date.now() - 30_000;
    await producer.send({ topic, messages: ['d', 'e'].map((value) => ({ key: value, value })) });
    const values = (read: Consumed[]) => read.map(({ message }) => message.value!.toString()).sort();
    expect(values(await readToEnd(kafka, [topic]))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(values(await readToEnd(kafka, [topic], { fromTimestamp: since }))).toEqual(['d', 'e']);
    expect(await readToEnd(kafka, [topic], { fromTimestamp: Date.now() + 60_000 })).toEqual([]);
  });

  it('creates a topic, produces, consumes in order and commits after the handler', async () => {
    const { topic, admin, producer } = await withTopic(2);
    const groupId = randomName('smoke-group');
    await ensureTopics(admin, [{ topic, numPartitions: 2 }]); // idempotent
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(metadata?.partitions).toHaveLength(2);

    const values = ['one', 'two', 'three', 'four'];
    await producer.send({ topic, messages: values.map((value) => ({ key: 'same-key', value })) });

    const received: KafkaMessage[] = [];
    let failOnce = true;
    const running = await runConsumer({
      kafka,
      groupId,
      topics: [topic],
      logger,
      fromBeginning: true,
      handleBatch: async (batch) => {
        // The first batch fails: it must come again, and nothing may be committed for it.
        if (failOnce) {
          failOnce = false;
          throw new Error('transient failure');
        }
        received.push(...batch.messages);
      },
    });
    cleanup(() => running.stop());

    await waitFor('all four messages', () => received.length >= values.length);
    expect(received.map((message) => message.value?.toString())).toEqual(values);

    const committed = await waitFor('committed offsets', async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = offsets[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) ?? 0;
      return total === values.length ? total : undefined;
    });
    expect(committed).toBe(values.length);
  });

  it('with a commit interval, commits the batches handled meanwhile together, a last batch by timer, and what is pending when it stops', async () => {
    const { topic, admin, producer } = await withTopic(1);
    const groupId = randomName('throttled-group');
    const committed = async () => Number((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions[0]?.offset ?? -1);
    const handled: string[] = [];
    const start = (commitIntervalMs: number) =>
      runConsumer({ kafka, groupId, topics: [topic], logger, fromBeginning: true, commitIntervalMs, handleBatch: async (batch) => void handled.push(...batch.messages.map((message) => message.value!.toString())) });

    // An interval longer than the test: the first batch is committed at once, the next ones wait.
    const first = await start(600_000);
    let stopped = false;
    cleanup(() => (stopped ? undefined : first.stop()));
    const commits: number[] = [];
    first.consumer.on(first.consumer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'OffsetCommit') commits.push(Date.now());
    });
    for (const value of ['a', 'b', 'c', 'd', 'e']) {
      await producer.send({ topic, messages: [{ key: 'k', value }] });
      await waitFor(`${value} handled`, () => handled.includes(value));
    }
    expect(await committed()).toBe(1);
    expect(commits).toHaveLength(1);
    await first.stop();
    stopped = true;
    expect(await committed()).toBe(5);

    // A short interval: a batch that nothing follows is committed by the timer.
    const second = await start(3_000);
    cleanup(() => second.stop());
    await producer.send({ topic, messages: [{ key: 'k', value: 'f' }] });
    await waitFor('f handled', () => handled.includes('f'));
    await producer.send({ topic, messages: [{ key: 'k', value: 'g' }] });
    await waitFor('g handled', () => handled.includes('g'));
    expect(await committed()).toBe(6);
    await waitFor('g committed', async () => ((await committed()) === 7 ? true : undefined));
    expect(handled).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it("keeps every batch and message under the topic's own max.message.bytes, read from the broker; a message that cannot fit is never sent", async () => {
    const { topic, admin, producer } = await withTopic(1, [{ name: 'max.message.bytes', value: '16384' }]);
    const limits = makeTopicLimits(admin);
    const missing = randomName('not-created');
    expect(await limits.of([topic, missing])).toEqual(new Map([[topic, 16_384], [missing, defaultMaxMessageBytes]]));

    // 60 KB for one partition: refused whole by a plain sendBatch, sent in chunks under 16 KB.
    const messages = Array.from({ length: 60 }, (_, index) => ({ key: 'one-partition', value: `${index}:${'x'.repeat(1_000)}` }));
    await expect(producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })).rejects.toThrow(/larger than the max message size|too large/i);
    await sendInChunks(producer, [{ topic, messages }], { limits });
    expect(Number((await admin.fetchTopicOffsets(topic))[0]!.high)).toBe(60);

    // One message over the limit: an error before anything of the produce goes out…
    const oversized = { key: 'big', value: 'y'.repeat(20_000) };
    await expect(sendInChunks(producer, [{ topic, messages: [{ key: 'small', value: 'z' }, oversized] }], { limits })).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE', retriable: false });
    expect(Number((await admin.fetchTopicOffsets(topic))[0]!.high)).toBe(60);
    // …or, with a fit, its smaller form.
    await sendInChunks(producer, [{ topic, messages: [oversized] }], { limits, fit: (_, message, budget) => ({ ...message, value: String(message.value).slice(0, budget - 100) }) });
    expect(Number((await admin.fetchTopicOffsets(topic))[0]!.high)).toBe(61);
  });

  it('sends more than the broker takes in one request (1 MiB) in several, in order', async () => {
    const { topic, admin, producer } = await withTopic(1);
    const messages = Array.from({ length: 3_000 }, (_, index) => ({ key: 'one-partition', value: `${index}:${'x'.repeat(1_000)}` }));
    // About 3 MB for one partition: refused whole by a plain sendBatch.
    await expect(producer.sendBatch({ topicMessages: [{ topic, messages }], acks: -1 })).rejects.toThrow(/larger than the max message size/);

    await sendInChunks(producer, [{ topic, messages }]);
    const offsets = await admin.fetchTopicOffsets(topic);
    expect(Number(offsets[0]!.high)).toBe(3_000);
    const seen: number[] = [];
    const running = await runConsumer({
      kafka,
      groupId: randomName('big-group'),
      topics: [topic],
      logger,
      fromBeginning: true,
      handleBatch: async (batch) => {
        for (const message of batch.messages) seen.push(Number(message.value!.toString().split(':')[0]));
      },
    });
    cleanup(() => running.stop());
    await waitFor('every message', () => seen.length >= 3_000);
    expect(seen).toEqual(messages.map((_, index) => index));
  });
});
