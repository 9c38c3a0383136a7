import { MetricsTime, Queue, Worker, type Job, type JobsOptions, type Processor } from 'bullmq';

export type { Job, JobsOptions };

/** Key prefix of every BullMQ key the suite writes. @defaultValue 'profiles' */
export const defaultQueuePrefix = 'profiles';

export type QueueOptions = {
  redisUrl: string;
  /** @defaultValue {@link defaultQueuePrefix} */
  prefix?: string;
};

/**
 * A BullMQ queue on its own connection. Jobs carry ids only (organisationId, customerNumber,
 * reason), never personal data, so that Redis never holds any.
 */
export function makeQueue<Data extends Record<string, unknown>>(name: string, options: QueueOptions) {
  return new Queue<Data>(name, {
    connection: { url: options.redisUrl, connectionName: `queue:${name}`, maxRetriesPerRequest: null },
    prefix: options.prefix ?? defaultQueuePrefix,
    defaultJobOptions: { removeOnComplete: { count: 1_000 }, removeOnFail: { count: 10_000 } },
  });
}

export type WorkerOptions = QueueOptions & {
  /** Jobs processed at once by this worker. @defaultValue 8 */
  concurrency?: number;
  /**
   * How long a job stays locked without its worker renewing the lock; a job whose worker died is
   * taken up again after about this long (BullMQ's stalled-job check runs at the same interval).
   * @defaultValue 30_000
   */
  lockDurationMs?: number;
};

/** A BullMQ worker: `process` is one plain async function per job. */
export function makeWorker<Data extends Record<string, unknown>, Result = unknown>(
  name: string,
  process: Processor<Data, Result>,
  options: WorkerOptions,
) {
  return new Worker<Data, Result>(name, process, {
    connection: { url: options.redisUrl, connectionName: `worker:${name}`, maxRetriesPerRequest: null },
    prefix: options.prefix ?? defaultQueuePrefix,
    concurrency: options.concurrency ?? 8,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.lockDurationMs ?? 30_000,
    // BullMQ's own counts of jobs completed and failed per minute (read by /metrics): a counter per
    // job and a list of the last hour's minutes per queue in Redis.
    metrics: { maxDataPoints: MetricsTime.ONE_HOUR },
  });
}
