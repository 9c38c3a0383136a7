// The deletion worker: runs the erasure saga for each due erasure job (deactivated and expired
// customers), then publishes their DELETED event. Wiring only.
import { DelayedError, type Job } from 'bullmq';
import type { Kafka } from 'kafkajs';
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { makeClaimKey } from '../../shared/claims.ts';
import type { Config } from '../../shared/config.ts';
import { erasureQueueName, makeErasureJobs, makeErasureQueue, type ErasureJobData } from '../../shared/erasureQueue.ts';
import { ensureTopics, makeProducer, sendInChunks } from '../../shared/kafka.ts';
import { eventTopicConfig } from '../../shared/topicConfigs.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { makeWorker } from '../../shared/queue.ts';
import { topics } from '../../shared/topics.ts';
import { correlationIdHeader } from '../profile/messages.ts';
import type { CustomerChanged } from '../profile/model.ts';
import { combine } from '../../shared/combine.ts';
import { makeEraser, type ErasureOutcome, type EraserDeps } from './erase.ts';
import { makeErasureStore } from './store.ts';

export type DeletionWorkerDeps = {
  config: Pick<Config, 'env' | 'kafka' | 'registryUrl' | 'redisUrl' | 'expiry' | 'claimKeySecret' | 'retention'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
  metrics?: Pick<Metrics, 'erasuresTotal'>;
  /** Test hook (fault injection). */
  beforeStep?: EraserDeps['beforeStep'];
  afterStep?: EraserDeps['afterStep'];
};

export async function startDeletionWorker(deps: DeletionWorkerDeps): Promise<RunningWorker & { queueName: string }> {
  const { config, kafka, mongo, logger } = deps;
  const names = topics(config.env);
  const store = makeErasureStore(mongo);
  await store.ensureIndexes();

  const codec = makeAvroCodec(config.registryUrl);
  const eventType = await codec.register(await readSchemaFile(new URL('../../schemas/CustomerChanged.avsc', import.meta.url)));
  const admin = kafka.admin();
  await admin.connect();
  const producer = makeProducer(kafka);
  await producer.connect();
  const knownTopics = new Set<string>();

  // The DELETED events of the sagas running at once go out in one produce (group commit).
  const publish = combine<CustomerChanged, void>(
    async (events) => {
      const byTopic = new Map<string, CustomerChanged[]>();
      for (const event of events) {
        const topic = names.customerChanged(event.organisationId);
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), event]);
      }
      const missing = [...byTopic.keys()].filter((topic) => !knownTopics.has(topic));
      if (missing.length > 0) {
        await ensureTopics(admin, missing.map((topic) => ({ topic, numPartitions: config.kafka.eventPartitions, config: eventTopicConfig(config.retention) })), { logger });
        for (const topic of missing) knownTopics.add(topic);
      }
      await sendInChunks(
        producer,
        [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((event) => ({ key: event.customerNumber, value: codec.encode(eventType, event), headers: { [correlationIdHeader]: event.correlationId ?? '' } })),
        })),
      );
      return events.map(() => undefined);
    },
    { max: 500 },
  );

  const queue = makeErasureQueue(config.env, config.redisUrl);
  const jobs = makeErasureJobs(queue);
  const eraser = makeEraser({
    store,
    claimKey: makeClaimKey(config.claimKeySecret),
    clock: () => new Date(),
    logger,
    removeJobs: (target) => jobs.cancel(target),
    publishDeleted: (event) => publish(event),
    ...(deps.beforeStep ? { beforeStep: deps.beforeStep } : {}),
    ...(deps.afterStep ? { afterStep: deps.afterStep } : {}),
  });

  const worker = makeWorker<ErasureJobData, ErasureOutcome['kind']>(
    erasureQueueName(config.env),
    async (job: Job<ErasureJobData>, token?: string) => {
      const outcome = await eraser.erase(job.data);
      if (outcome.kind === 'not-due' && outcome.dueAt !== null && token) {
        // Fired early (clock skew) or rescheduled: wait for the date in the same job.
        await job.moveToDelayed(Date.parse(outcome.dueAt), token);
        throw new DelayedError();
      }
      if (outcome.kind === 'erased') deps.metrics?.erasuresTotal.inc({ reason: outcome.receipt.reason });
      return outcome.kind;
    },
    { redisUrl: config.redisUrl, concurrency: config.expiry.erasureConcurrency, lockDurationMs: config.expiry.erasureLockMs },
  );
  worker.on('failed', (job, error) => {
    logger.warn({ jobId: job?.id, attempts: job?.attemptsMade, err: { message: error.message } }, 'erasure attempt failed; it will be retried');
  });
  await worker.waitUntilReady();
  logger.info({ queue: erasureQueueName(config.env) }, 'deletion worker ready');

  return {
    name: 'deletion',
    queueName: erasureQueueName(config.env),
    isReady: () => worker.isRunning(),
    stop: async () => {
      // Lets the erasures in flight finish (each step is resumable anyway).
      await worker.close();
      await store.close();
      await queue.close();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
