import type { ConsumerGroup } from './consumerLag.ts';
import type { Logger } from './logger.ts';

/** What every worker hands back when started: enough for /readyz and for a graceful stop. */
export type RunningWorker = {
  name: string;
  /** True while the worker consumes or processes (its consumers run, its connections are up). */
  isReady: () => boolean;
  /** Why it is not ready, when it can say more than "not ready" (shown by /readyz). */
  problem?: () => string | null;
  /** Stops taking new work, finishes what is in flight, commits, closes. */
  stop: () => Promise<void>;
  /** BullMQ queues the worker uses, for the dashboard and the queue metrics. */
  queueNames?: string[];
  /** Kafka consumer groups the worker runs, for the consumer lag metric. */
  consumerGroups?: ConsumerGroup[];
};

/**
 * On SIGTERM or SIGINT, runs `shutdown` once and exits 0 (1 if it failed or took longer than
 * `graceMs`). A second signal exits at once.
 */
export function exitOnSignals(logger: Logger, shutdown: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long, exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    shutdown().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
