// The profile worker: consumes customer-commands-<env>, applies each command to MongoDB, answers
// on customer-command-results-<env> and publishes CustomerChanged events. Wiring only.
import type { Kafka } from 'kafkajs';
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { servesOrganisation, type Config } from '../../shared/config.ts';
import { customersWithReceipts } from '../../shared/erasureReceipts.ts';
import { ensureTopics, makeProducer, runConsumer, type TopicSpec, type UnalignedTopic } from '../../shared/kafka.ts';
import { eventTopicConfig, retainedTopicConfig } from '../../shared/topicConfigs.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo.ts';
import { makeClaimKey } from '../../shared/claims.ts';
import { topics } from '../../shared/topics.ts';
import { makeCommandHandler, type HandlerDeps } from './handler.ts';
import { newProfileUuid } from './ids.ts';
import { commandLabels } from './labels.ts';
import { makeRelay } from './relay.ts';
import { makeProfileStore } from './store.ts';

export type ProfileWorkerDeps = {
  config: Pick<Config, 'env' | 'kafka' | 'registryUrl' | 'organisations' | 'claimKeySecret' | 'retention'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
  metrics?: Pick<Metrics, 'commandsTotal' | 'dlqTotal' | 'eventPublishLagSeconds' | 'consumerLag'>;
  /** Test hook: the clock of decisions. @defaultValue () => new Date() */
  clock?: () => Date;
  /** Test hooks for fault injection (see handler.ts). */
  hooks?: HandlerDeps['hooks'];
};

const schemaFile = (name: string) => new URL(`../../schemas/${name}.avsc`, import.meta.url);

/**
 * Relays what was written but never relayed, at start and then periodically. A crash between write
 * and relay is normally repaired sooner: the uncommitted batch is consumed again and relayed then.
 * On FerretDB this is a scan of the profiles, hence the long interval.
 */
const sweepIntervalMs = 60_000;
/** A change younger than this may still be relayed by the process that wrote it. */
const sweepMinAgeMs = 60_000;

export async function startProfileWorker(deps: ProfileWorkerDeps): Promise<RunningWorker> {
  const { config, kafka, mongo, logger, metrics } = deps;
  const names = topics(config.env);

  const admin = kafka.admin();
  await admin.connect();
  // Topics it owns: created with their configuration, or aligned to it (SPEC §2, §6); those it could
  // not align make it unready, named in /readyz.
  // Tried again with each sweep (a broker busy at start-up must not leave the worker unready).
  const unalignedTopics = new Map<string, string>();
  const noteUnaligned = (list: UnalignedTopic[]) => {
    for (const { topic, reason } of list) unalignedTopics.set(topic, reason);
  };
  const eventConfig = eventTopicConfig(config.retention);
  const ownedTopics = new Map<string, TopicSpec>(
    [
      { topic: names.commands, numPartitions: config.kafka.commandPartitions, config: retainedTopicConfig(config.retention.commandRetentionMs) },
      { topic: names.results, numPartitions: config.kafka.commandPartitions },
      { topic: names.dlq, numPartitions: 1, config: retainedTopicConfig(config.retention.dlqRetentionMs) },
      { topic: names.expirations, numPartitions: config.kafka.commandPartitions },
    ].map((spec) => [spec.topic, spec]),
  );
  const specOf = (topic: string): TopicSpec => ownedTopics.get(topic) ?? { topic, numPartitions: config.kafka.eventPartitions, config: eventConfig };
  const ownEventTopic = new RegExp(`^${names.customerChanged(0).slice(0, -1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d+$`);
  const eventTopics = (await admin.listTopics()).filter((topic) => ownEventTopic.test(topic));
  noteUnaligned(await ensureTopics(admin, [...ownedTopics.keys(), ...eventTopics].map(specOf), { logger }));
  const alignAgain = async () => {
    if (unalignedTopics.size === 0) return;
    const still = await ensureTopics(admin, [...unalignedTopics.keys()].map(specOf), { logger });
    unalignedTopics.clear();
    noteUnaligned(still);
  };

  const codec = makeAvroCodec(config.registryUrl);
  const [event, result] = await Promise.all([
    readSchemaFile(schemaFile('CustomerChanged')).then((schema) => codec.register(schema)),
    readSchemaFile(schemaFile('CommandResult')).then((schema) => codec.register(schema)),
    // Registered so that clients can encode commands against it.
    readSchemaFile(schemaFile('CustomerCommand')).then((schema) => codec.register(schema)),
  ]);

  const store = makeProfileStore(mongo.db, { claimKey: makeClaimKey(config.claimKeySecret) });
  await store.ensureIndexes();
  const producer = makeProducer(kafka);
  await producer.connect();
  const relay = makeRelay({
    producer,
    admin,
    codec,
    schemas: { event, result },
    topics: names,
    eventPartitions: config.kafka.eventPartitions,
    eventTopicConfig: eventConfig,
    onUnaligned: noteUnaligned,
    logger,
    store,
    onPublished: ({ events, dlq }) => {
      const now = Date.now();
      for (const sent of events) metrics?.eventPublishLagSeconds.observe((now - Date.parse(sent.occurredAt)) / 1_000);
      if (dlq > 0) metrics?.dlqTotal.inc(dlq);
    },
  });
  const handler = makeCommandHandler({
    store,
    relay,
    codec,
    logger,
    clock: deps.clock ?? (() => new Date()),
    newUuid: newProfileUuid,
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
    validation: { servesOrganisation: (organisationId) => servesOrganisation(config.organisations, organisationId) },
    onResult: (outcome) => metrics?.commandsTotal.inc(commandLabels(outcome)),
  });

  let sweeping: Promise<void> | null = null;
  const sweep = () => {
    sweeping ??= (async () => {
      for (let round = 0; round < 20; round++) {
        const stale = await store.findStaleSteps(100, sweepMinAgeMs);
        if (stale.length === 0) break;
        const numbers = [...new Set(stale.flatMap((step) => step.profiles))];
        logger.info({ steps: stale.length, profiles: numbers.length }, 'relaying changes left unrelayed');
        // A step whose write may still come (its process slow, or stopped before it: then its
        // redelivery writes anew) stays open, and is looked at again after the others.
        const staleIds = new Set(stale.map((step) => step._id));
        const found = await store.findProfiles(numbers);
        const missing = stale.flatMap((step) => step.profiles.flatMap((customerNumber, index) => {
          const organisationId = step.organisations?.[index];
          return !found.has(customerNumber) && organisationId !== undefined ? [{ organisationId, customerNumber }] : [];
        }));
        const erased = await customersWithReceipts(mongo.db, missing);
        const unsettled = await relay.publish({ profiles: [...found.values()], lookedUp: numbers, erased, steps: staleIds });
        await store.postponeSteps(unsettled.filter((id) => staleIds.has(id)));
      }
      await alignAgain();
      // Merges interrupted after the permanent profile was written: remove their temporary profile.
      for (const temporary of await store.findMerging(100)) await store.finishMerge(temporary, temporary.mergingInto!);
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'relay sweep failed'))
      .finally(() => {
        sweeping = null;
      });
    return sweeping;
  };
  await sweep();
  const sweepTimer = setInterval(sweep, sweepIntervalMs);
  sweepTimer.unref();

  const consumer = await runConsumer({
    kafka,
    groupId: `customer-profiles-${config.env}`,
    topics: [names.commands],
    logger,
    fromBeginning: true,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    // Every partition at once: while one step writes, others read and produce.
    partitionsConsumedConcurrently: config.kafka.commandPartitions,
    handleBatch: (batch, progress, stopping) => handler.handleBatch(batch, progress, stopping),
  });
  let running = true;
  consumer.consumer.on(consumer.consumer.events.CRASH, () => {
    running = false;
  });
  consumer.consumer.on(consumer.consumer.events.GROUP_JOIN, () => {
    running = true;
  });
  // How far each partition is behind its end, after every batch (Prometheus: profiles_consumer_lag).
  consumer.consumer.on(consumer.consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    metrics?.consumerLag.set({ topic: payload.topic, partition: String(payload.partition) }, Number(payload.offsetLag));
  });
  logger.info({ topics: [names.commands, names.results, names.dlq] }, 'profile worker ready');

  return {
    name: 'profile',
    isReady: () => running && unalignedTopics.size === 0,
    problem: () =>
      unalignedTopics.size > 0 ? `topics not configured as the suite needs: ${[...unalignedTopics].map(([topic, reason]) => `${topic} (${reason})`).join('; ')}` : running ? null : 'not consuming',
    stop: async () => {
      clearInterval(sweepTimer);
      await consumer.stop();
      await sweeping;
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
