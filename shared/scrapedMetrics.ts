// Gauges read when Prometheus scrapes (prom-client `collect()`), from the services themselves:
// the consumer groups' lag from Kafka and the BullMQ queues' job counts from Redis. A scrape never
// waits long for them: each read is bounded, a read that fails or is late keeps the last values
// (and counts an error), and a read still running is shared by the scrapes that come meanwhile.
import { Counter, Gauge, type Registry } from 'prom-client';
import { readGroupLag, type ConsumerGroup } from './consumerLag.ts';
import type { Admin } from './kafka.ts';

/** A BullMQ queue as the metrics read it. */
export type WatchedQueue = {
  name: string;
  getJobCounts: (...states: JobState[]) => Promise<Record<string, number>>;
  getMetrics: (type: 'completed' | 'failed', start?: number, end?: number) => Promise<{ meta: { count: number } }>;
};

export const jobStates = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
export type JobState = (typeof jobStates)[number];

export type ScrapeOptions = {
  /** Longest a scrape waits for one read. @defaultValue 2_000 */
  timeoutMs?: number;
};

class ScrapeTimeout extends Error {
  readonly code = 'SCRAPE_TIMEOUT';
  readonly retriable = true;
}

/** `read` at most once at a time, each call answered within `timeoutMs` (or rejected). */
export function boundedRead<T>(read: () => Promise<T>, timeoutMs: number): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ScrapeTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([inFlight, late]).finally(() => clearTimeout(timer));
  };
}

/**
 * The last values read from each source, refreshed once per scrape: prom-client starts every
 * metric's `collect()` at once, so they all join the refresh the first one started, and the gauges
 * and their error counter show the same read. A read that fails or is late keeps the source's last
 * value and counts an error for it.
 */
function lastReads<T>(sources: readonly { key: string; read: () => Promise<T> }[], timeoutMs: number, onError: (key: string) => void) {
  const last = new Map<string, T>();
  const reads = sources.map(({ key, read }) => ({ key, read: boundedRead(read, timeoutMs) }));
  let current: Promise<void> | undefined;
  const refresh = async () => {
    await Promise.all(
      reads.map(async ({ key, read }) => {
        try {
          last.set(key, await read());
        } catch {
          onError(key);
        }
      }),
    );
  };
  return {
    last,
    /** The refresh of this scrape (the one in flight, or a new one). */
    refresh: (): Promise<void> => {
      current ??= refresh().finally(() => {
        current = undefined;
      });
      return current;
    },
  };
}

/**
 * `profiles_consumer_lag_messages{group,topic,partition}`: for each group, end offset − committed
 * offset on every partition of its topics, read from the broker at scrape time; and
 * `profiles_consumer_lag_scrape_errors_total{group}`.
 */
export function registerConsumerLag(
  registry: Registry,
  deps: { admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>; groups: readonly ConsumerGroup[] } & ScrapeOptions,
): void {
  const registers = [registry];
  const errors = new Counter({
    name: 'profiles_consumer_lag_scrape_errors_total',
    help: 'Reads of a consumer group lag from Kafka that failed or took too long (the last values are kept)',
    labelNames: ['group'] as const,
    registers,
    async collect() {
      await lags.refresh();
    },
  });
  for (const group of deps.groups) errors.inc({ group: group.groupId }, 0);
  const lags = lastReads(
    deps.groups.map((group) => ({ key: group.groupId, read: () => readGroupLag(deps.admin, group) })),
    deps.timeoutMs ?? 2_000,
    (group) => errors.inc({ group }),
  );
  new Gauge({
    name: 'profiles_consumer_lag_messages',
    help: 'Messages behind the consumer group committed offset, per partition, read from the broker',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers,
    async collect() {
      await lags.refresh();
      this.reset();
      for (const partitions of lags.last.values()) for (const { group, topic, partition, lag } of partitions) this.set({ group, topic, partition: String(partition) }, lag);
    },
  });
}

/**
 * `profiles_queue_jobs{queue,state}`: each queue's job counts per state;
 * `profiles_queue_jobs_finished_total{queue,state}`: jobs completed and failed, as counted by
 * BullMQ's metrics on the queue's workers (in Redis, so across every copy; `increase(…[1m])` gives
 * them per minute); `profiles_queue_scrape_errors_total{queue}`.
 */
export function registerQueueMetrics(registry: Registry, deps: { queues: readonly WatchedQueue[] } & ScrapeOptions): void {
  const registers = [registry];
  const errors = new Counter({
    name: 'profiles_queue_scrape_errors_total',
    help: 'Reads of a BullMQ queue counts from Redis that failed or took too long (the last values are kept)',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      await counts.refresh();
    },
  });
  for (const queue of deps.queues) errors.inc({ queue: queue.name }, 0);
  type Read = { counts: Record<string, number>; finished: { completed: number; failed: number } };
  const counts = lastReads(
    deps.queues.map((queue) => ({
      key: queue.name,
      read: async (): Promise<Read> => {
        const [jobs, completed, failed] = await Promise.all([queue.getJobCounts(...jobStates), queue.getMetrics('completed', 0, 0), queue.getMetrics('failed', 0, 0)]);
        return { counts: jobs, finished: { completed: completed.meta.count, failed: failed.meta.count } };
      },
    })),
    deps.timeoutMs ?? 2_000,
    (queue) => errors.inc({ queue }),
  );
  new Gauge({
    name: 'profiles_queue_jobs',
    help: 'Jobs of a BullMQ queue, per state',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      await counts.refresh();
      this.reset();
      for (const [queue, read] of counts.last) for (const state of jobStates) this.set({ queue, state }, read.counts[state] ?? 0);
    },
  });
  new Counter({
    name: 'profiles_queue_jobs_finished_total',
    help: 'Jobs of a BullMQ queue completed or failed, as counted by BullMQ metrics in Redis',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      await counts.refresh();
      // A counter kept in Redis: shown as it is there (a reset there reads as a counter reset).
      this.reset();
      for (const [queue, { finished }] of counts.last) for (const state of ['completed', 'failed'] as const) this.inc({ queue, state }, finished[state]);
    },
  });
}
