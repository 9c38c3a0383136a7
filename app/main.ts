// The suite's process: parses the configuration once, connects the shared clients, starts the
// workers named in WORKERS (default: all) and stops them gracefully on SIGTERM / SIGINT.
import { developmentClaimKeySecret, loadConfig, type Config } from '../shared/config.ts';
import { SuiteError } from '../shared/errors.ts';
import { redactSecrets, secretsOf } from '../shared/serviceUrls.ts';
import { makeKafka } from '../shared/kafka.ts';
import { exitOnSignals, type RunningWorker } from '../shared/lifecycle.ts';
import { makeLogger, type Logger } from '../shared/logger.ts';
import { connectMongo, type Mongo } from '../shared/mongo/connect.ts';
import { ensureIndexes } from '../shared/mongo/indexes.ts';
import { makeRedis } from '../shared/redis.ts';
import { startDeletionWorker } from '../workers/deletion/index.ts';
import { startProfileWorker } from '../workers/profile/index.ts';
import { startScheduler } from '../workers/scheduler/index.ts';
import { startSuiteOps, type SuiteOps } from './ops/suiteOps.ts';
import type { Telemetry } from '../shared/telemetry.ts';
import type { StepTracing } from '../shared/tracing.ts';

export const workerNames = ['profile', 'scheduler', 'deletion'] as const;
export type WorkerName = (typeof workerNames)[number];

export function parseWorkerNames(value: string | undefined): WorkerName[] {
  if (!value || value === 'all') return [...workerNames];
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(workerNames as readonly string[]).includes(name));
  if (unknown.length > 0) throw new SuiteError('CONFIG_INVALID', `WORKERS: unknown worker(s) ${unknown.join(', ')}; expected ${workerNames.join(', ')}`, { retriable: false });
  return names as WorkerName[];
}

export type Suite = { workers: RunningWorker[]; mongo: Mongo; stop: () => Promise<void> };

/**
 * `monitorCommands`: the MongoDB client emits command events (for the benchmark's round-trip count).
 * `tracing`: spans of the profile worker's steps (see {@link startTracing}).
 */
export async function startSuite(config: Config, names: readonly WorkerName[], logger: Logger, options: { monitorCommands?: boolean; tracing?: StepTracing } = {}): Promise<Suite> {
  const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger });
  const mongo = await connectMongo(config.mongoUri, { appName: config.kafka.clientId, monitorCommands: options.monitorCommands ?? false });
  // All indexes first, before any worker runs (see shared/mongo/indexes.ts).
  await ensureIndexes(mongo.db);
  const redis = makeRedis(config.redisUrl, { name: `${config.kafka.clientId}:suite` });
  const workers: RunningWorker[] = [];
  // Ops server (SPEC §7, see ./ops/suiteOps.ts): /healthz, /readyz, /metrics and bull-board.
  let ops: SuiteOps | undefined;
  const stop = async () => {
    // The ops server first, so that nothing reports ready while the workers drain.
    await ops?.close();
    // Stop in reverse order of start, then close the shared clients.
    for (const worker of [...workers].reverse()) await worker.stop();
    await mongo.close();
    redis.disconnect();
  };
  try {
    // Before the workers, so that /healthz answers during start-up (/readyz names who is not ready yet).
    ops = await startSuiteOps({ config, kafka, mongo, redis, workerNames: names, workers, logger });
    for (const name of names) {
      switch (name) {
        case 'profile':
          workers.push(await startProfileWorker({ config, kafka, mongo, metrics: ops.metrics, logger: logger.child({ worker: name }), ...(options.tracing ? { tracing: options.tracing } : {}) }));
          break;
        case 'scheduler':
          workers.push(await startScheduler({ config, kafka, mongo, metrics: ops.metrics, logger: logger.child({ worker: name }) }));
          break;
        case 'deletion':
          workers.push(await startDeletionWorker({ config, kafka, mongo, metrics: ops.metrics, logger: logger.child({ worker: name }) }));
          break;
        default: {
          const unreachable: never = name;
          throw new Error(`unhandled worker ${String(unreachable)}`);
        }
      }
    }
    // The dashboard and the metrics show the suite's queues (read from Redis; jobs carry ids only),
    // and the metrics its consumer groups' lag (read from Kafka).
    const queueNames = [...new Set(workers.flatMap((worker) => worker.queueNames ?? []))];
    ops.watch({ queueNames, consumerGroups: workers.flatMap((worker) => worker.consumerGroups ?? []) });
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { workers, mongo, stop };
}

/**
 * OpenTelemetry, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK is imported then, and not
 * loaded at all otherwise (the W3C headers on results and events need no SDK).
 */
export async function startTracing(env: Record<string, string | undefined>): Promise<Telemetry | null> {
  if (!env['OTEL_EXPORTER_OTLP_ENDPOINT']) return null;
  const { startTelemetry } = await import('../shared/telemetry.ts');
  return startTelemetry({ serviceName: env['OTEL_SERVICE_NAME'] || 'customer-profiles' });
}

/** Entry point: `node app/main.ts` with the environment already set. */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: Config;
  let names: WorkerName[];
  try {
    config = loadConfig(env);
    names = parseWorkerNames(env['WORKERS']);
  } catch (error) {
    // Stop with the message naming the variable, before anything connects.
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
  const logger = makeLogger({ level: config.logLevel, name: 'customer-profiles' });
  let suite: Suite;
  let telemetry: Telemetry | null = null;
  try {
    telemetry = await startTracing(env);
    suite = await startSuite(config, names, logger, telemetry ? { tracing: telemetry.tracing } : {});
  } catch (error) {
    // A configuration error found late (e.g. the dashboard's credentials) or a service away at start;
    // shown without any service password (SPEC §7).
    const message = redactSecrets(error instanceof Error ? error.message : String(error), secretsOf([config.registryUrl, config.mongoUri, config.redisUrl]));
    logger.fatal({ err: { message } }, 'could not start');
    if (error instanceof SuiteError && error.code === 'CONFIG_INVALID') console.error(message);
    process.exit(1);
  }
  exitOnSignals(logger, async () => {
    await suite.stop();
    // The spans of the last steps go out before the process ends.
    await telemetry?.shutdown().catch(() => undefined);
  });
  if (config.claimKeySecret === developmentClaimKeySecret) {
    logger.warn('CLAIM_KEY_SECRET is not set: claim keys use the public development secret (required with NODE_ENV=production)');
  }
  logger.info({ env: config.env, workers: names }, 'suite ready');
}

if (import.meta.main) await main();
