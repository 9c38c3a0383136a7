import type { IHeaders } from 'kafkajs';
import { makeAvroCodec } from '../../shared/avro.ts';
import { ensureTopics, makeKafka, makeProducer, runConsumer, type KafkaMessage } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import { connectMongo, type Mongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';
import { startProfileWorker, type ProfileWorkerDeps } from '../../workers/profile/index.ts';
import { startDeletionWorker, type DeletionWorkerDeps } from '../../workers/deletion/index.ts';
import { reconcileQueueName, startScheduler } from '../../workers/scheduler/index.ts';
import { erasureQueueName } from '../../shared/erasureQueue.ts';
import { makeQueue } from '../../shared/queue.ts';
import { makeMetrics } from '../../shared/metrics.ts';
import type { CommandResult, CustomerChanged } from '../../workers/profile/model.ts';
import { commandJson } from './factories.ts';
import { randomName, testConfig, testLogger, waitFor } from './services.ts';

export type Received<T> = { key: string | null; value: T; headers: IHeaders; topic: string; partition: number };
export type DlqRecord = { key: string | null; value: string | null; headers: Record<string, string> };

/**
 * The profile worker against the real stack, with its own PROFILES_ENV (so its own topics) and its
 * own database, plus a client's view: a producer of commands and a reader of results, events and
 * the DLQ. `organisations` event topics are created up front so the reader can subscribe to them.
 */
export async function startProfileHarness(
  options: { organisations?: number[]; workerOverrides?: Partial<ProfileWorkerDeps>; startWorker?: boolean; expiry?: boolean; env?: Record<string, string> } = {},
) {
  const config = testConfig({ COMMAND_PARTITIONS: '3', EVENT_PARTITIONS: '2', KAFKA_SESSION_TIMEOUT_MS: '6000', RECONCILE_INTERVAL_MS: '2000', EXPIRATION_HORIZON_MS: '20000', ...options.env });
  const logger = testLogger();
  const names = topics(config.env);
  const organisations = options.organisations ?? [1, 2];
  const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: randomName('harness'), logger });
  const mongo: Mongo = await connectMongo(config.mongoUri, { dbName: randomName('profiles').replace('-', '_') });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: names.commands, numPartitions: 3 },
    { topic: names.results, numPartitions: 3 },
    { topic: names.dlq, numPartitions: 1 },
    ...organisations.map((organisationId) => ({ topic: names.customerChanged(organisationId), numPartitions: 2 })),
  ]);

  const workers: RunningWorker[] = [];
  const metrics = makeMetrics();
  const startWorker = async (overrides: Partial<ProfileWorkerDeps> = {}) => {
    const worker = await startProfileWorker({ config, kafka, mongo, logger, metrics, ...options.workerOverrides, ...overrides });
    workers.push(worker);
    return worker;
  };
  if (options.startWorker !== false) await startWorker();
  const expiryWorkers: RunningWorker[] = [];
  const startExpiryWorkers = async (overrides: Partial<DeletionWorkerDeps> = {}) => {
    expiryWorkers.push(await startScheduler({ config, kafka, mongo, logger, metrics }));
    expiryWorkers.push(await startDeletionWorker({ config, kafka, mongo, logger, metrics, ...overrides }));
  };
  if (options.expiry) await startExpiryWorkers();

  const codec = makeAvroCodec(config.registryUrl);
  const results: Received<CommandResult>[] = [];
  const events: Received<CustomerChanged>[] = [];
  const dlq: DlqRecord[] = [];
  const headersOf = (message: KafkaMessage) =>
    Object.fromEntries(Object.entries(message.headers ?? {}).map(([key, value]) => [key, String(Array.isArray(value) ? value[0] : value)]));
  const reader = await runConsumer({
    kafka,
    groupId: randomName('reader'),
    topics: [names.results, names.dlq, ...organisations.map((organisationId) => names.customerChanged(organisationId))],
    logger,
    fromBeginning: true,
    partitionsConsumedConcurrently: 4,
    handleBatch: async (batch) => {
      for (const message of batch.messages) {
        const key = message.key?.toString() ?? null;
        if (batch.topic === names.dlq) {
          dlq.push({ key, value: message.value?.toString() ?? null, headers: headersOf(message) });
          continue;
        }
        const { value } = await codec.decode(message.value!);
        const received = { key, value, headers: message.headers ?? {}, topic: batch.topic, partition: batch.partition };
        if (batch.topic === names.results) results.push(received as Received<CommandResult>);
        else events.push(received as Received<CustomerChanged>);
      }
    },
  });

  const producer = makeProducer(kafka);
  await producer.connect();

  return {
    config,
    kafka,
    names,
    metrics,
    mongo,
    codec,
    results,
    events,
    dlq,
    startWorker,
    startExpiryWorkers,
    async startSchedulerOnly() {
      expiryWorkers.push(await startScheduler({ config, kafka, mongo, logger }));
    },
    async startDeletionOnly() {
      expiryWorkers.push(await startDeletionWorker({ config, kafka, mongo, logger }));
    },
    async stopExpiryWorkers() {
      for (const worker of expiryWorkers.splice(0).reverse()) await worker.stop();
    },
    /** Sends a command as a client would: JSON, with ET-Client-Name unless told otherwise. */
    /** `sentAt`: the Kafka timestamp, for a command sent earlier (a redelivery, a backlog). */
    async send(command: Record<string, unknown> | Buffer | string, options: { key?: string; headers?: Record<string, string>; clientName?: string | null; sentAt?: Date } = {}) {
      const value = Buffer.isBuffer(command) ? command : Buffer.from(typeof command === 'string' ? command : JSON.stringify(command));
      const clientName = options.clientName === undefined ? 'acme-ticketshop' : options.clientName;
      const fallbackKey = typeof command === 'object' && !Buffer.isBuffer(command) ? commandKeyOf(command) : 'no-key';
      await producer.send({
        topic: names.commands,
        acks: -1,
        messages: [
          {
            key: options.key ?? fallbackKey,
            value,
            headers: { ...(clientName ? { 'ET-Client-Name': clientName } : {}), ...options.headers },
            ...(options.sentAt ? { timestamp: String(options.sentAt.getTime()) } : {}),
          },
        ],
      });
    },
    async sendMany(commands: Record<string, unknown>[]) {
      await producer.send({
        topic: names.commands,
        acks: -1,
        messages: commands.map((command) => ({ key: commandKeyOf(command), value: JSON.stringify(command), headers: { 'ET-Client-Name': 'acme-ticketshop' } })),
      });
    },
    /** Sends a JSON command (`extra`: envelope fields, e.g. organisationId) and waits for its result. */
    async run(type: string, payload: Record<string, unknown>, customerNumber?: string, extra: Record<string, unknown> = {}, options: { clientName?: string | null } = {}): Promise<CommandResult> {
      const command = commandJson(type, payload, { ...(customerNumber ? { customerNumber } : {}), ...extra });
      await this.send(command, options);
      return this.result(command['commandId'] as string);
    },
    resultsFor: (commandId: string) => results.filter((result) => result.value.commandId === commandId),
    async result(commandId: string, timeoutMs = 20_000): Promise<CommandResult> {
      return (await waitFor(`the result of ${commandId}`, () => results.find((result) => result.value.commandId === commandId), { timeoutMs })).value;
    },
    eventsOf: (customerNumber: string) => events.filter((event) => event.value.customerNumber === customerNumber).map((event) => event.value),
    async stopWorkers() {
      for (const worker of workers.splice(0)) await worker.stop();
    },
    async close() {
      for (const worker of expiryWorkers.splice(0).reverse()) await worker.stop();
      for (const worker of workers.splice(0)) await worker.stop();
      for (const name of [erasureQueueName(config.env), reconcileQueueName(config.env)]) {
        const queue = makeQueue(name, { redisUrl: config.redisUrl });
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close();
      }
      await reader.stop();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [names.commands, names.results, names.dlq, names.expirations, ...organisations.map((organisationId) => names.customerChanged(organisationId))] }).catch(() => undefined);
      await admin.disconnect();
      await mongo.db.dropDatabase();
      await mongo.close();
    },
  };
}

export type ProfileHarness = Awaited<ReturnType<typeof startProfileHarness>>;

/** `<organisationId>:<customerNumber>` for commands on a profile, the commandId otherwise (SPEC §3.1). */
export function commandKeyOf(command: Record<string, unknown>): string {
  return command['customerNumber'] ? `${String(command['organisationId'])}:${String(command['customerNumber'])}` : String(command['commandId']);
}
