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
  /** Messages behind the group's committed offset, per topic and partition. */
  consumerLag: Gauge<'topic' | 'partition'>;
};

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
    consumerLag: new Gauge({
      name: 'profiles_consumer_lag',
      help: 'Messages behind the consumer group committed offset, per topic and partition',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
  };
}
