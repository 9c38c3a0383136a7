// The profile worker: consumes customer-commands-<env>, applies each command to MongoDB, answers
// on customer-command-results-<env> and publishes CustomerChanged events. Wiring only.
import type { Kafka } from 'kafkajs';
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { servesOrganisation, type Config } from '../../shared/config.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { makeProducer, runConsumer } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { makeOutboxStore, makeRelay } from '../../shared/outbox.ts';
import { topics } from '../../shared/topics.ts';
import { makeFit } from './fit.ts';
import { makeCommandHandler, type HandlerDeps } from './handler.ts';
import { newProfileUuid } from './ids.ts';
import { commandLabels } from './labels.ts';
import { alignOwnTopics } from './ownTopics.ts';
import { makeProfileStore } from './store.ts';
import type { StepTracing } from '../../shared/tracing.ts';
import { makeSweep, sweepIntervalMs } from './sweep.ts';

export type ProfileWorkerDeps = {
  config: Pick<Config, 'env' | 'kafka' | 'registryUrl' | 'organisations' | 'claimKeySecret' | 'retention'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
  metrics?: Pick<Metrics, 'commandsTotal' | 'dlqTotal' | 'eventPublishLagSeconds' | 'commandHandlingSeconds'>;
  /** Spans of its steps, when telemetry is on (app/main.ts). @defaultValue no spans */
  tracing?: StepTracing;
  /** Test hook: the clock of decisions. @defaultValue () => new Date() */
  clock?: () => Date;
  /** Test hooks for fault injection (see handler.ts). */
  hooks?: HandlerDeps['hooks'];
};

export const profileGroupId = (env: string) => `customer-profiles-${env}`;

const schemaFile = (name: string) => new URL(`../../schemas/${name}.avsc`, import.meta.url);

export async function startProfileWorker(deps: ProfileWorkerDeps): Promise<RunningWorker> {
  const { config, kafka, mongo, logger, metrics } = deps;
  const names = topics(config.env);

  const admin = kafka.admin();
  await admin.connect();
  const ownTopics = await alignOwnTopics(admin, names, config, logger);

  const codec = makeAvroCodec(config.registryUrl);
  const [event, result] = await Promise.all([
    readSchemaFile(schemaFile('CustomerChanged')).then((schema) => codec.register(schema)),
    readSchemaFile(schemaFile('CommandResult')).then((schema) => codec.register(schema)),
    // Registered so that clients can encode commands against it.
    readSchemaFile(schemaFile('CustomerCommand')).then((schema) => codec.register(schema)),
  ]);

  const store = makeProfileStore(mongo, { claimKey: makeClaimKey(config.claimKeySecret) });
  await store.ensureIndexes();
  const outbox = makeOutboxStore(mongo);
  const producer = makeProducer(kafka);
  await producer.connect();
  const relay = makeRelay({
    producer,
    admin,
    codec,
    schemas: { event, result },
    topics: names,
    eventPartitions: config.kafka.eventPartitions,
    eventTopicConfig: ownTopics.eventConfig,
    onUnaligned: ownTopics.note,
    logger,
    results: { put: (results, checked) => store.putResults(results, checked), record: (results, options) => store.recordResults(results, options) },
    sent: outbox,
    fit: makeFit({ topics: names, codec, result }),
    ...(deps.hooks?.afterProduce ? { afterProduce: deps.hooks.afterProduce } : {}),
    onPublished: ({ events, dlq }) => {
      const now = Date.now();
      for (const sent of events) metrics?.eventPublishLagSeconds.observe((now - Date.parse(sent.occurredAt)) / 1_000);
      if (dlq > 0) metrics?.dlqTotal.inc(dlq);
    },
  });
  const handler = makeCommandHandler({
    store,
    outbox,
    relay,
    codec,
    logger,
    clock: deps.clock ?? (() => new Date()),
    newUuid: newProfileUuid,
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
    ...(deps.tracing ? { tracing: deps.tracing } : {}),
    validation: { servesOrganisation: (organisationId) => servesOrganisation(config.organisations, organisationId) },
    onResult: (outcome, sentAt) => {
      metrics?.commandsTotal.inc(commandLabels(outcome));
      if (sentAt !== undefined) metrics?.commandHandlingSeconds.observe(Math.max(0, Date.now() - sentAt) / 1_000);
    },
  });

  const sweep = makeSweep({ store, outbox, relay, topics: ownTopics, logger });
  await sweep.run();
  const sweepTimer = setInterval(sweep.run, sweepIntervalMs);
  sweepTimer.unref();

  const consumer = await runConsumer({
    kafka,
    groupId: profileGroupId(config.env),
    topics: [names.commands],
    logger,
    fromBeginning: true,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    commitIntervalMs: config.kafka.commitIntervalMs,
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
  logger.info({ topics: [names.commands, names.results, names.dlq] }, 'profile worker ready');

  return {
    name: 'profile',
    // Its lag is read from the broker at scrape time (shared/scrapedMetrics.ts).
    consumerGroups: [{ groupId: profileGroupId(config.env), topics: [names.commands] }],
    isReady: () => running && ownTopics.problem() === null,
    problem: () => ownTopics.problem() ?? (running ? null : 'not consuming'),
    stop: async () => {
      clearInterval(sweepTimer);
      await consumer.stop();
      await sweep.idle();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
