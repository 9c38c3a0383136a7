// The deletion worker: runs the erasure saga for each due erasure job (deactivated and expired
// customers), then publishes their DELETED event. Wiring only.
import type { Kafka } from 'kafkajs';
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { makeEventPublisher } from '../../shared/customers/publisher.ts';
import type { Config } from '../../shared/config.ts';
import { erasureQueueName, makeErasureJobs, makeErasureQueue, type ErasureJobData } from '../../shared/erasureQueue.ts';
import { makeProducer } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { makeWorker } from '../../shared/queue.ts';
import { eventTopicConfig } from '../../shared/topicConfigs.ts';
import { topics } from '../../shared/topics.ts';
import { makeEraser, type ErasureOutcome, type EraserDeps } from './erase.ts';
import { makeErasureProcessor } from './processor.ts';
import { makeDeletedPublisher } from './publish.ts';
import { makeErasureStore } from './store.ts';

export type DeletionWorkerDeps = {
  config: Pick<Config, 'env' | 'kafka' | 'registryUrl' | 'redisUrl' | 'expiry' | 'claimKeySecret' | 'retention'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
  metrics?: Pick<Metrics, 'erasuresTotal' | 'erasureLagSeconds'>;
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
  const events = makeEventPublisher({ admin, codec, schema: eventType, topics: names, eventPartitions: config.kafka.eventPartitions, eventTopicConfig: eventTopicConfig(config.retention), logger });
  const publishDeleted = makeDeletedPublisher({ events, producer });

  const queue = makeErasureQueue(config.env, config.redisUrl);
  const jobs = makeErasureJobs(queue);
  const eraser = makeEraser({
    store,
    claimKey: makeClaimKey(config.claimKeySecret),
    clock: () => new Date(),
    logger,
    removeJobs: (target, runningJobId) => jobs.cancel([target], runningJobId ? { except: runningJobId } : {}),
    publishDeleted,
    ...(deps.beforeStep ? { beforeStep: deps.beforeStep } : {}),
    ...(deps.afterStep ? { afterStep: deps.afterStep } : {}),
  });

  const worker = makeWorker<ErasureJobData, ErasureOutcome['kind']>(
    erasureQueueName(config.env),
    makeErasureProcessor({ eraser, metrics: deps.metrics }),
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
    // For the dashboard and the queue metrics when it runs without the scheduler (WORKERS=deletion).
    queueNames: [erasureQueueName(config.env)],
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
