import type { Kafka } from 'kafkajs';
import type { Config } from '../../shared/config.ts';
import { ensureTopics } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Mongo } from '../../shared/mongo.ts';
import { topics } from '../../shared/topics.ts';

export type ProfileWorkerDeps = {
  config: Pick<Config, 'env' | 'kafka'>;
  kafka: Kafka;
  mongo: Mongo;
  logger: Logger;
};

/**
 * The profile worker: consumes customer-commands-<env>, applies each command to MongoDB, answers
 * on customer-command-results-<env> and publishes CustomerChanged events.
 *
 * Skeleton for now: it creates its topics and checks its connections; it does not consume yet,
 * so that no command is committed without a result.
 */
export async function startProfileWorker(deps: ProfileWorkerDeps): Promise<RunningWorker> {
  const { config, kafka, mongo, logger } = deps;
  const names = topics(config.env);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [
      { topic: names.commands, numPartitions: config.kafka.commandPartitions },
      { topic: names.results, numPartitions: config.kafka.commandPartitions },
      { topic: names.dlq, numPartitions: 1 },
    ]);
  } finally {
    await admin.disconnect();
  }
  await mongo.db.command({ ping: 1 });
  logger.info({ topics: [names.commands, names.results, names.dlq] }, 'profile worker ready');
  return { name: 'profile', isReady: () => true, stop: async () => undefined };
}
