import { Kafka, logLevel, Partitioners, type Admin, type ConfigResourceTypes, type Consumer, type ConsumerRunConfig, type EachBatchPayload, type KafkaMessage, type LogEntry, type Message, type Producer, type TopicMessages } from 'kafkajs';
import { HandlerError, OversizedMessageError } from './errors.ts';
import { isDecoderPatched } from './kafkajsPatch.ts';
import type { Logger } from './logger.ts';
import { configChanges, type TopicConfig } from './topicConfigs.ts';

export type { Admin, Consumer, KafkaMessage, Producer };

const kafkaLevels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * KafkaJS 2.2.4 schedules a timer with a negative delay on Node >= 24 (tulios/kafkajs#1751, open):
 * harmless, but it would print a warning at every start. Only that warning is dropped.
 */
let timerWarningSilenced = false;
function silenceKafkajsTimerWarning(): void {
  if (timerWarningSilenced) return;
  timerWarningSilenced = true;
  const emitWarning = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const name = typeof warning === 'string' ? (rest[0] as { type?: string } | string | undefined) : warning.name;
    const type = typeof name === 'string' ? name : name?.type;
    if (type === 'TimeoutNegativeWarning') return;
    (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** A KafkaJS client whose own log lines go through the suite's JSON logger. */
export function makeKafka(options: { brokers: string[]; clientId: string; logger: Logger }): Kafka {
  const { logger } = options;
  silenceKafkajsTimerWarning();
  // Without the install-time patch one message with many headers blocks the process for minutes.
  if (!isDecoderPatched()) logger.error('KafkaJS decodes record headers in quadratic time: run `node scripts/patchKafkajs.ts` (npm install and npm ci do)');
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, timestamp: _timestamp, logger: _name, ...rest } = log;
        logger[kafkaLevels[level] ?? 'info']({ kafka: rest }, message);
      },
  });
}

export type TopicSpec = {
  topic: string;
  numPartitions: number;
  /** The topic's configuration (shared/topicConfigs.ts): set at creation, and aligned when it exists. */
  config?: TopicConfig;
};

/** A topic whose configuration could not be made what the suite needs, and why. */
export type UnalignedTopic = { topic: string; reason: string };

/**
 * Creates the topics that do not exist yet (KafkaJS's auto-creation is unreliable on KRaft), with
 * their configuration, and waits for their leaders; aligns the configuration of those that exist
 * (created by an older version, by hand, by a platform team). Returns the topics it could not
 * align (no permission, a policy): the caller says so. Safe to call concurrently from several
 * processes.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[], options: { logger?: Logger } = {}): Promise<UnalignedTopic[]> {
  if (specs.length === 0) return [];
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  const present = specs.filter((spec) => existing.has(spec.topic) && spec.config);
  let raced: TopicSpec[] = [];
  if (missing.length > 0) {
    try {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map(({ topic, numPartitions, config }) => ({
          topic,
          numPartitions,
          replicationFactor: -1,
          ...(config ? { configEntries: Object.entries(config).map(([name, value]) => ({ name, value })) } : {}),
        })),
      });
      // KafkaJS answers false, without throwing, when every one of them existed already: another
      // process created them between listTopics and createTopics (an older version, by hand).
      if (!created) raced = missing.filter((spec) => spec.config);
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type === 'TOPIC_ALREADY_EXISTS') {
        // Another process created one of them between listTopics and createTopics: check them.
        raced = missing.filter((spec) => spec.config);
      } else if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
        // KafkaJS waits for leaders only through LEADER_NOT_AVAILABLE; a busy broker may first
        // answer that it does not know the new topic yet (seen under load): wait for it here.
        await waitForTopics(admin, missing.map((spec) => spec.topic));
      } else {
        throw error;
      }
    }
  }
  return alignTopics(admin, [...present, ...raced], options.logger);
}

/** A topic's configuration as the broker reports it (every setting, defaults included). */
export async function topicConfigOf(admin: Pick<Admin, 'describeConfigs'>, topic: string): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: resourceTypes.topic, name: topic }] });
  return Object.fromEntries((resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]));
}

/** Topic-level overrides (`configSource` DYNAMIC_TOPIC_CONFIG), which AlterConfigs replaces as a whole. */
const topicOverride = 1;

async function alignTopics(admin: Admin, specs: TopicSpec[], logger?: Logger): Promise<UnalignedTopic[]> {
  if (specs.length === 0) return [];
  const unaligned: UnalignedTopic[] = [];
  let described;
  try {
    described = await admin.describeConfigs({ includeSynonyms: false, resources: specs.map((spec) => ({ type: resourceTypes.topic, name: spec.topic })) });
  } catch (error) {
    const reason = `cannot read its configuration: ${(error as Error).message}`;
    for (const spec of specs) logger?.warn({ topic: spec.topic, reason }, 'topic configuration not checked');
    return specs.map((spec) => ({ topic: spec.topic, reason }));
  }
  for (const spec of specs) {
    const resource = described.resources.find((entry) => entry.resourceName === spec.topic);
    if (!resource || resource.errorCode !== 0) {
      const reason = `cannot read its configuration: ${resource?.errorMessage ?? 'no answer'}`;
      logger?.warn({ topic: spec.topic, reason }, 'topic configuration not checked');
      unaligned.push({ topic: spec.topic, reason });
      continue;
    }
    const current = Object.fromEntries(resource.configEntries.map((entry) => [entry.configName, entry.configValue]));
    const changes = configChanges(current, spec.config!);
    if (changes.length === 0) continue;
    // AlterConfigs (KafkaJS has no incremental variant) replaces every override of the topic: the
    // ones it has are sent again, with the suite's own on top.
    const overrides = Object.fromEntries(resource.configEntries.filter((entry) => (entry as { configSource?: number }).configSource === topicOverride).map((entry) => [entry.configName, entry.configValue]));
    const merged = { ...overrides, ...spec.config };
    try {
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: resourceTypes.topic, name: spec.topic, configEntries: Object.entries(merged).map(([name, value]) => ({ name, value })) }] });
      logger?.info({ topic: spec.topic, changes }, 'topic configuration aligned');
    } catch (error) {
      const reason = `cannot set ${changes.map((change) => `${change.name}=${change.to}`).join(', ')}: ${(error as Error).message}`;
      logger?.warn({ topic: spec.topic, changes, reason }, 'topic configuration not aligned: the erasure promise does not hold for it');
      unaligned.push({ topic: spec.topic, reason });
    }
  }
  return unaligned;
}

async function waitForTopics(admin: Admin, names: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      if (topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0))) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics without leaders after ${timeoutMs} ms: ${names.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Producer for the suite: acks from all in-sync replicas, batched sends, no auto topic creation. */
export function makeProducer(kafka: Kafka): Producer {
  // The Java client's partitioner (murmur2), chosen explicitly: same key, same partition as any other client.
  return kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 5, createPartitioner: Partitioners.DefaultPartitioner });
}

/** Bytes per produce request: under the broker's default `message.max.bytes` (1 MiB), with room to spare. */
const maxRequestBytes = 768 * 1024;

/** Kafka's default `max.message.bytes` of a topic, and of the broker (`message.max.bytes`). */
export const defaultMaxMessageBytes = 1_048_588;

/** A record batch's own header (v2): a record alone in its batch fits the limit only with it. */
const batchOverhead = 61;

/** The longest varint of a 32-bit value. */
const varint = 5;

const bytesOf = (value: Buffer | string | null | undefined) => (value == null ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length);

/**
 * An upper bound of the bytes a message takes inside a record batch (Kafka's record v2 format:
 * varint lengths, headers as key/value pairs). Linear in the number of headers.
 */
export function recordSize(message: Message): number {
  let size = varint + 1 + 10 + varint + varint + bytesOf(message.key) + varint + bytesOf(message.value) + varint;
  const headers = message.headers ?? {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    const parts = Array.isArray(value) ? value : [value];
    for (const part of parts) size += varint + Buffer.byteLength(name) + varint + bytesOf(part as Buffer | string | undefined);
  }
  return size;
}

/** The most a single message may take, in a topic whose `max.message.bytes` is `maxMessageBytes`. */
export const messageBudget = (maxMessageBytes: number): number => maxMessageBytes - batchOverhead;

/** KafkaJS's ConfigResourceTypes, which Node's ESM loader cannot import by name from its CommonJS. */
const resourceTypes = { topic: 2 as ConfigResourceTypes, broker: 4 as ConfigResourceTypes };

/** Each topic's `max.message.bytes`, as the broker says, remembered for a while. */
export type TopicLimits = { of: (topics: readonly string[]) => Promise<Map<string, number>> };

/**
 * Reads `max.message.bytes` of topics from the broker (describeConfigs), for a topic that does not
 * exist yet the broker's `message.max.bytes`, and without an answer Kafka's default. A message
 * over its topic's limit is refused by the broker, so a consumer producing it would fail forever.
 */
export function makeTopicLimits(admin: Pick<Admin, 'describeConfigs' | 'describeCluster'>, options: { ttlMs?: number } = {}): TopicLimits {
  const ttlMs = options.ttlMs ?? 10 * 60_000;
  const known = new Map<string, { bytes: number; until: number }>();
  let brokerDefault: Promise<number> | undefined;
  const parse = (value: string | undefined) => (value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined);

  const brokerLimit = () =>
    (brokerDefault ??= (async () => {
      try {
        const { brokers } = await admin.describeCluster();
        const broker = brokers[0];
        if (!broker) return defaultMaxMessageBytes;
        const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: resourceTypes.broker, name: String(broker.nodeId), configNames: ['message.max.bytes'] }] });
        return parse(resources[0]?.configEntries.find((entry) => entry.configName === 'message.max.bytes')?.configValue) ?? defaultMaxMessageBytes;
      } catch {
        brokerDefault = undefined; // asked again next time
        return defaultMaxMessageBytes;
      }
    })());

  const describe = async (topic: string): Promise<number> => {
    try {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: resourceTypes.topic, name: topic, configNames: ['max.message.bytes'] }] });
      const resource = resources[0];
      const bytes = resource && resource.errorCode === 0 ? parse(resource.configEntries.find((entry) => entry.configName === 'max.message.bytes')?.configValue) : undefined;
      return bytes ?? (await brokerLimit());
    } catch {
      return brokerLimit(); // not created yet: it gets the broker's default
    }
  };

  return {
    async of(topics) {
      const now = Date.now();
      const missing = [...new Set(topics)].filter((topic) => (known.get(topic)?.until ?? 0) <= now);
      const found = await Promise.all(missing.map(async (topic) => [topic, await describe(topic)] as const));
      for (const [topic, bytes] of found) known.set(topic, { bytes, until: now + ttlMs });
      return new Map(topics.map((topic) => [topic, known.get(topic)?.bytes ?? defaultMaxMessageBytes]));
    },
  };
}

export type SendOptions = {
  /** @defaultValue -1 (all in-sync replicas) */
  acks?: number;
  /** Each topic's `max.message.bytes`. @defaultValue Kafka's default (1,048,588) for every topic */
  limits?: TopicLimits;
  /**
   * Turns a message too large for its topic into one that fits (a shortened result, a truncated
   * DLQ copy), or null when there is no such thing for the topic. @defaultValue none
   */
  fit?: (topic: string, message: Message, budget: number) => Message | null;
};

/**
 * `sendBatch` in as many requests as needed to stay under the broker's size limits, one after the
 * other (each partition keeps its order): a request stays under 768 KiB, and what it carries for
 * one topic under that topic's `max.message.bytes` (the broker checks each partition's batch
 * against it). A backlog's worth in one request would be refused whole, and again on every retry.
 *
 * A message that cannot fit its topic is never sent as it is (the broker would refuse it, and the
 * consumer producing it would fail on it forever): `fit` makes it fit, or, before anything is
 * sent, a non-retriable {@link OversizedMessageError} says which.
 */
export async function sendInChunks(producer: Producer, topicMessages: TopicMessages[], options: SendOptions = {}): Promise<void> {
  const acks = options.acks ?? -1;
  const limits = options.limits ? await options.limits.of(topicMessages.map(({ topic }) => topic)) : new Map<string, number>();
  const sized = topicMessages.map(({ topic, messages }) => {
    const budget = messageBudget(limits.get(topic) ?? defaultMaxMessageBytes);
    return {
      topic,
      budget,
      messages: messages.map((message) => {
        const size = recordSize(message);
        if (size <= budget) return { message, size };
        const fitted = options.fit?.(topic, message, budget) ?? null;
        const fittedSize = fitted ? recordSize(fitted) : Infinity;
        if (!fitted || fittedSize > budget) throw new OversizedMessageError(topic, message.key, size, budget);
        return { message: fitted, size: fittedSize };
      }),
    };
  });

  let request: TopicMessages[] = [];
  let bytes = 0;
  const send = async () => {
    if (request.length > 0) await producer.sendBatch({ topicMessages: request, acks });
    request = [];
    bytes = 0;
  };
  for (const { topic, budget, messages } of sized) {
    let current: Message[] = [];
    let topicBytes = 0;
    for (const { message, size } of messages) {
      if (bytes > 0 && (bytes + size > maxRequestBytes || topicBytes + size > budget)) {
        if (current.length > 0) request.push({ topic, messages: current });
        current = [];
        topicBytes = 0;
        await send();
      }
      current.push(message);
      bytes += size;
      topicBytes += size;
    }
    if (current.length > 0) request.push({ topic, messages: current });
  }
  await send();
}

export type Batch = { topic: string; partition: number; messages: KafkaMessage[] };

export type RunConsumerOptions = {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  logger: Logger;
  /**
   * Handles one fetched batch of one partition. It returns only when every effect of the batch is
   * durable; the batch's offsets are committed after that, never before. Throwing makes KafkaJS
   * retry the same batch, so the handler must be idempotent.
   */
  /**
   * `progress` keeps the consumer alive in its group during a long batch; given the offset of the
   * last message fully handled, it also commits up to there, so a rebalance does not redo it.
   */
  /**
   * `stopping` turns true when the consumer is being stopped (or the batch went stale in a
   * rebalance): a handler of a long batch returns `'stopped'` at its next safe point, and then only
   * the offsets it passed to `progress` are committed; the rest is consumed again, here or elsewhere.
   */
  handleBatch: (batch: Batch, progress: (handledOffset?: string) => Promise<void>, stopping: () => boolean) => Promise<void | 'stopped'>;
  /** @defaultValue false */
  fromBeginning?: boolean;
  /** Partitions handled at once by this process. @defaultValue 3 */
  partitionsConsumedConcurrently?: number;
  /** @defaultValue 30_000 */
  sessionTimeout?: number;
  /**
   * Commits handled offsets at most this often (ms), instead of after every batch: each commit is a
   * write to the broker, and a busy consumer handles dozens of small batches a second. A batch's
   * offsets then go with the next commit due (a timer sends them when no batch follows), and at
   * once when the consumer stops, when a heartbeat says the group is rebalancing, and when a
   * handler fails. A crash (or a rebalance that comes between heartbeats) redelivers what was
   * handled since the last commit, which the handlers must take anyway. 0: after every batch.
   * @defaultValue 0
   */
  commitIntervalMs?: number;
};

export type RunningConsumer = { consumer: Consumer; stop: () => Promise<void> };

/** Error types of a heartbeat that mean the group is rebalancing (KafkaJS's own `isRebalancing`). */
const rebalancing = new Set<unknown>(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION']);

type BatchPayload = Pick<EachBatchPayload, 'commitOffsetsIfNecessary' | 'uncommittedOffsets' | 'heartbeat'>;

/**
 * Offset commits at most every `intervalMs` (see {@link RunConsumerOptions.commitIntervalMs}): one
 * commit in flight at a time, carrying every partition's handled offsets; a timer commits what the
 * last batch left when no other batch comes. `throttled` is false for an interval of 0: then
 * KafkaJS commits after every batch itself, and these only heartbeat.
 */
function commitsEvery(intervalMs: number, onError: (error: Error) => void) {
  const throttled = intervalMs > 0;
  let lastAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let latest: BatchPayload | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  /** Commits what this consumer has handled and not committed (they are its group's offsets, any batch's payload gives them). */
  const now = (payload: BatchPayload | undefined = latest): Promise<void> => {
    if (!throttled || !payload) return Promise.resolve();
    clearTimeout(timer);
    timer = undefined;
    lastAt = Date.now();
    const run = inFlight.then(async () => {
      const offsets = payload.uncommittedOffsets();
      if (offsets.topics.length > 0) await payload.commitOffsetsIfNecessary(offsets);
    });
    inFlight = run.catch(() => undefined);
    return run;
  };
  return {
    throttled,
    now,
    /** Commits now if the interval has passed since the last commit, else makes sure a timer will. */
    async due(payload: BatchPayload): Promise<void> {
      if (!throttled) return;
      latest = payload;
      const wait = lastAt + intervalMs - Date.now();
      if (wait <= 0) return now(payload);
      timer ??= setTimeout(() => now().catch(onError), wait).unref();
    },
    /** A heartbeat; when it says the group is rebalancing, what was handled is committed first (as KafkaJS does). */
    async heartbeat(payload: BatchPayload): Promise<void> {
      try {
        await payload.heartbeat();
      } catch (error) {
        if (rebalancing.has((error as { type?: unknown } | null)?.type)) {
          await now(payload).catch(() => undefined);
        }
        throw error;
      }
    },
    /** Commits what is pending (the consumer is stopping); failures are reported, not thrown. */
    async flush(): Promise<void> {
      await now().catch(onError);
    },
  };
}

/**
 * The suite's consumer loop: one call of `handleBatch` per fetched partition batch, offsets
 * committed only after it succeeded (after every batch, or at most every `commitIntervalMs`). A
 * failure is wrapped with topic, partition and offset.
 */
export async function runConsumer(options: RunConsumerOptions): Promise<RunningConsumer> {
  const { kafka, logger } = options;
  const consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeout ?? 30_000,
    heartbeatInterval: 3_000,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 4 * 1024 * 1024,
    // How long the broker holds a fetch that finds nothing new: data ends it at once, so this is
    // only the idle polling (at 100 ms, an idle suite cost Kafka twice the CPU).
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? false });
  const commits = commitsEvery(options.commitIntervalMs ?? 0, (error) => logger.warn({ groupId: options.groupId, err: { message: error.message } }, 'could not commit offsets; the next commit carries them'));
  const runOptions: ConsumerRunConfig = {
    // With an interval the commits are this loop's own (commitsEvery); without, KafkaJS's after every batch.
    autoCommit: !commits.throttled,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
    eachBatch: async (payload) => {
      const { batch, resolveOffset, isRunning, isStale } = payload;
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      const last = batch.messages[batch.messages.length - 1]!;
      const heartbeat = () => commits.heartbeat(payload);
      try {
        const progress = async (handledOffset?: string) => {
          if (handledOffset !== undefined) {
            resolveOffset(handledOffset);
            await commits.due(payload);
          }
          await heartbeat();
        };
        const outcome = await options.handleBatch({ topic: batch.topic, partition: batch.partition, messages: batch.messages }, progress, () => !isRunning() || isStale());
        if (outcome === 'stopped') return await commits.now(payload);
      } catch (error) {
        // What was handled before the failure is kept (KafkaJS does the same when it commits).
        await commits.now(payload).catch(() => undefined);
        // KafkaJS's own errors (a rebalance met by a mid-batch commit or heartbeat) go back to it
        // as they are: it rejoins the group on them. Wrapped, it would retry and then stop the consumer.
        if (error instanceof Error && error.name.startsWith('KafkaJS')) throw error;
        const wrapped = new HandlerError({ topic: batch.topic, partition: batch.partition, offset: batch.firstOffset() ?? '?' }, error);
        logger.error({ err: wrapped, topic: batch.topic, partition: batch.partition }, wrapped.message);
        throw wrapped;
      }
      resolveOffset(last.offset);
      // Stopping: the batch in flight is committed before the consumer leaves its group.
      await (isRunning() && !isStale() ? commits.due(payload) : commits.now(payload));
      await heartbeat();
    },
  };
  // KafkaJS restarts a crashed consumer only after errors it deems retriable. Others — "Failed to
  // find group coordinator" while the broker restarts, seen here — leave it stopped for good in a
  // live process: start it again (it keeps its subscription), until it runs or is stopped.
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  const restart = () => {
    restartTimer = setTimeout(() => {
      if (stopping) return;
      consumer
        .connect()
        .then(() => consumer.run(runOptions))
        .catch((error: unknown) => {
          logger.error({ groupId: options.groupId, err: { message: (error as Error).message } }, 'could not start the consumer again; retrying');
          restart();
        });
    }, 1_000);
  };
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || stopping) return;
    logger.error({ groupId: options.groupId, err: { message: payload.error.message } }, 'consumer stopped on an error KafkaJS does not retry; starting it again');
    restart();
  });
  await consumer.run(runOptions);
  return {
    consumer,
    stop: async () => {
      stopping = true;
      clearTimeout(restartTimer);
      // What was handled and not yet committed goes first; disconnect() then lets the batch in
      // flight finish (committing its offsets) and leaves the group.
      await commits.flush();
      await consumer.disconnect();
    },
  };
}
