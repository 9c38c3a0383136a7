// The expiration scheduler: turns the profile worker's schedule records into delayed erasure jobs
// (BullMQ) for what is due within the horizon, and reconciles with MongoDB periodically. Wiring only.
import type { Queue } from 'bullmq';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../shared/config.ts';
import type { ConsumerGroup } from '../../shared/consumerLag.ts';
import { makeErasureJobs, makeErasureQueue } from '../../shared/erasureQueue.ts';
import { ensureTopics, runConsumer } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { makeQueue, makeWorker } from '../../shared/queue.ts';
import { topics } from '../../shared/topics.ts';
import { makeScheduleHandler } from './handler.ts';
import { makeReconcileJob, makeReconciler } from './reconcile.ts';

export type SchedulerDeps = {
  config: Pick<Config, 'env' | 'kafka' | 'redisUrl' | 'expiry'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
  metrics?: Pick<Metrics, 'expirationsPending' | 'expirationsOverdue'>;
  clock?: () => Date;
};

export const schedulerGroupId = (env: string) => `customer-profiles-scheduler-${env}`;
export const reconcileQueueName = (env: string) => `expiry-reconcile-${env}`;

/**
 * The reconciliation's BullMQ job scheduler, one run every `everyMs`. `firstAt` only counts when it
 * does not exist yet: at start, right after a run, its first tick comes an interval later; recreated
 * by the keeper (Redis lost its data), it ticks at once. An existing one keeps its next tick.
 */
export const ensureReconcileSchedule = (queue: Queue<Record<string, never>>, everyMs: number, firstAt?: number) =>
  queue.upsertJobScheduler('reconcile', { every: everyMs, ...(firstAt === undefined ? {} : { startDate: firstAt }) }, { name: 'reconcile', opts: { removeOnComplete: true, removeOnFail: 100 } });

export async function startScheduler(deps: SchedulerDeps): Promise<RunningWorker & { queueNames: string[]; consumerGroups: ConsumerGroup[] }> {
  const { config, kafka, mongo, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const names = topics(config.env);
  const { horizonMs, reconcileIntervalMs } = config.expiry;

  const erasures = makeErasureQueue(config.env, config.redisUrl);
  const jobs = makeErasureJobs(erasures);
  const reconciler = makeReconciler({ db: mongo.db, jobs, horizonMs, clock });
  await reconciler.ensureIndexes();

  // Reconciliation as a BullMQ job scheduler: one run per interval across all scheduler copies.
  const reconcileQueue = makeQueue<Record<string, never>>(reconcileQueueName(config.env), { redisUrl: config.redisUrl });
  const ensureJobScheduler = (firstAt?: number) => ensureReconcileSchedule(reconcileQueue, reconcileIntervalMs, firstAt);
  const reconcileWorker = makeWorker<Record<string, never>>(
    reconcileQueueName(config.env),
    makeReconcileJob({ reconciler, logger, metrics: deps.metrics, erasureQueue: () => jobs.backlog() }),
    { redisUrl: config.redisUrl, concurrency: 1 },
  );
  await ensureJobScheduler(clock().getTime() + reconcileIntervalMs);
  await reconciler.run(); // at start, before anything else
  // If Redis loses its data (the job scheduler included), the next tick puts the scheduler back.
  const keeper = setInterval(() => {
    ensureJobScheduler().catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'could not ensure the reconciliation schedule'));
  }, reconcileIntervalMs);
  keeper.unref();

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: names.expirations, numPartitions: config.kafka.commandPartitions }]);
  await admin.disconnect();

  const consumer = await runConsumer({
    kafka,
    groupId: schedulerGroupId(config.env),
    topics: [names.expirations],
    logger,
    fromBeginning: true,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    commitIntervalMs: config.kafka.commitIntervalMs,
    handleBatch: makeScheduleHandler({ db: mongo.db, jobs, horizonMs, clock }),
  });
  logger.info({ topic: names.expirations, horizonMs, reconcileIntervalMs }, 'scheduler ready');

  return {
    name: 'scheduler',
    queueNames: [erasures.name, reconcileQueue.name],
    consumerGroups: [{ groupId: schedulerGroupId(config.env), topics: [names.expirations] }],
    isReady: () => reconcileWorker.isRunning(),
    stop: async () => {
      clearInterval(keeper);
      await consumer.stop();
      await reconcileWorker.close();
      await reconcileQueue.close();
      await erasures.close();
    },
  };
}
