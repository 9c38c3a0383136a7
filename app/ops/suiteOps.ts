// The suite's ops server (SPEC §7): readiness checks over the shared clients and the running
// workers, the metrics registry, and the bull-board dashboard on OPS_PORT.
import type { Kafka } from 'kafkajs';
import type { Config } from '../../shared/config.ts';
import type { ConsumerGroup } from '../../shared/consumerLag.ts';
import { registerConsumerLag, registerQueueMetrics } from '../../shared/scrapedMetrics.ts';
import type { Admin } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import { makeMetrics, type Metrics } from '../../shared/metrics.ts';
import type { Mongo } from '../../shared/mongo/connect.ts';
import { assertBoardConfigured, startOpsServer, type OpsServer, type ReadinessCheck } from './server.ts';
import type { Redis } from '../../shared/redis.ts';
import { makeQueue } from '../../shared/queue.ts';
import { fetchWithCredentials, secretsOf } from '../../shared/serviceUrls.ts';
import type { Queue } from 'bullmq';

export type SuiteChecksDeps = {
  registryUrl: string;
  admin: Pick<Admin, 'describeCluster'>;
  mongo: Pick<Mongo, 'db'>;
  redis: Pick<Redis, 'ping'>;
  /** Workers asked for; each gets a check that fails until it has started and while it is not ready. */
  workerNames: readonly string[];
  /** The running workers, filled in as they start. */
  workers: readonly RunningWorker[];
};

/** The readiness checks of the suite: its four services and each of its workers. */
export function makeSuiteChecks(deps: SuiteChecksDeps): Record<string, ReadinessCheck> {
  const checks: Record<string, ReadinessCheck> = {
    mongodb: async () => {
      await deps.mongo.db.command({ ping: 1 });
    },
    redis: async () => {
      await deps.redis.ping();
    },
    kafka: async () => {
      await deps.admin.describeCluster();
    },
    registry: async (signal) => {
      // Credentials in the URL go as basic auth: fetch refuses them in the URL.
      const response = await fetchWithCredentials(`${deps.registryUrl}/subjects`, { signal });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`registry answered ${response.status}`);
    },
  };
  for (const name of deps.workerNames) {
    checks[`worker:${name}`] = async () => {
      const worker = deps.workers.find((running) => running.name === name);
      if (!worker) throw new Error('not started');
      if (!worker.isReady()) throw new Error(worker.problem?.() ?? 'not ready');
    };
  }
  return checks;
}

export type SuiteOps = {
  metrics: Metrics;
  server: OpsServer;
  /**
   * Once the workers run: shows their BullMQ queues on the dashboard and in the queue metrics (on
   * connections of its own), and reads their consumer groups' lag at each scrape. Called once.
   */
  watch: (what: { queueNames: readonly string[]; consumerGroups: readonly ConsumerGroup[] }) => void;
  /** Closes the server, then its Kafka admin client. */
  close: () => Promise<void>;
};

export type SuiteOpsDeps = Omit<SuiteChecksDeps, 'admin' | 'registryUrl'> & {
  config: Pick<Config, 'ops' | 'registryUrl' | 'redisUrl' | 'mongoUri'>;
  kafka: Kafka;
  logger: Logger;
};

/**
 * Starts the ops server of the suite on `config.ops.port`, with a long-lived Kafka admin client
 * for its Kafka check (connecting one per probe would be slow and noisy).
 */
export async function startSuiteOps(deps: SuiteOpsDeps): Promise<SuiteOps> {
  const { config, logger } = deps;
  // Before connecting anything: a missing dashboard password is a configuration error.
  assertBoardConfigured(config.ops.board);
  const metrics = makeMetrics();
  const admin = deps.kafka.admin();
  try {
    await admin.connect();
    const server = await startOpsServer({
      port: config.ops.port,
      board: config.ops.board,
      registry: metrics.registry,
      checks: makeSuiteChecks({ ...deps, admin, registryUrl: config.registryUrl }),
      secrets: secretsOf([config.registryUrl, config.mongoUri, config.redisUrl]),
      logger: logger.child({ component: 'ops' }),
    });
    let shown: Queue[] = [];
    return {
      metrics,
      server,
      watch: ({ queueNames, consumerGroups }) => {
        shown = queueNames.map((name) => makeQueue(name, { redisUrl: config.redisUrl }) as unknown as Queue);
        if (config.ops.board !== 'disabled') server.setQueues(shown);
        registerQueueMetrics(metrics.registry, { queues: shown });
        registerConsumerLag(metrics.registry, { admin, groups: consumerGroups });
      },
      close: async () => {
        await server.close();
        await Promise.all(shown.map((queue) => queue.close()));
        await admin.disconnect();
      },
    };
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw error;
  }
}
