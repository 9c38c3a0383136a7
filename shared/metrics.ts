import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type { Registry };

/**
 * The suite's Prometheus metrics, all on one registry of their own (never prom-client's global
 * one), so that tests and several suites in one process never share counters. Labels carry codes
 * and ids of topics, never personal data.
 */
export type Metrics = {
  registry: Registry;
  /** Commands answered, by command type, result status and result code: known values only (`unknown` for any other), never client text. */
  commandsTotal: Counter<'type' | 'status' | 'code'>;
  /** Messages sent to the dead-letter topic. */
  dlqTotal: Counter;
  /** Seconds from a change being committed to MongoDB to its event being acknowledged by Kafka. */
  eventPublishLagSeconds: Histogram;
  /** Expiration jobs scheduled and not yet due. */
  expirationsPending: Gauge;
  /** Expiration jobs past their due time and not yet done. */
  expirationsOverdue: Gauge;
  /** Customers erased, by reason (deactivated, expired, …). */
  erasuresTotal: Counter<'reason'>;
  /** Seconds from a command sent (its Kafka timestamp) to its result acknowledged by Kafka. */
  commandHandlingSeconds: Histogram;
  /** Seconds from a customer's erasure due date to its erasure completed. */
  erasureLagSeconds: Histogram;
};
// The consumer groups' lag and the queues' job counts are read at scrape time: see scrapedMetrics.ts.

/** Creates a registry with Node's default process metrics and the suite's named metrics. */
export function makeMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    commandsTotal: new Counter({
      name: 'profiles_commands_total',
      help: 'Commands answered, by command type, result status and result code',
      labelNames: ['type', 'status', 'code'] as const,
      registers,
    }),
    dlqTotal: new Counter({ name: 'profiles_dlq_total', help: 'Messages sent to the dead-letter topic', registers }),
    eventPublishLagSeconds: new Histogram({
      name: 'profiles_event_publish_lag_seconds',
      help: 'Seconds from a change committed to MongoDB to its CustomerChanged event acknowledged by Kafka',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    expirationsPending: new Gauge({ name: 'profiles_expirations_pending', help: 'Expiration jobs scheduled and not yet due', registers }),
    expirationsOverdue: new Gauge({ name: 'profiles_expirations_overdue', help: 'Expiration jobs past their due time and not yet done', registers }),
    erasuresTotal: new Counter({
      name: 'profiles_erasures_total',
      help: 'Customers erased with their connected data, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    commandHandlingSeconds: new Histogram({
      name: 'profiles_command_handling_seconds',
      help: 'Seconds from a command sent (its Kafka timestamp) to its result acknowledged by Kafka',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    }),
    erasureLagSeconds: new Histogram({
      name: 'profiles_erasure_lag_seconds',
      help: 'Seconds from a customer erasure due date to the erasure completed',
      buckets: [1, 5, 15, 30, 60, 300, 900, 3_600, 4 * 3_600, 12 * 3_600, 86_400, 3 * 86_400, 7 * 86_400],
      registers,
    }),
  };
}
