// What every subcommand that talks to the services starts from: the suite's own configuration
// (.stack/env when no service variable is set, as `npm start` finds it), a logger on stderr (stdout
// is the command's output) and a Kafka client. Output is JSON, one value per line.
import type { Kafka } from 'kafkajs';
import { loadConfig, serviceVariables, type Config } from '../../shared/config.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { makeLogger, type Logger } from '../../shared/logger.ts';
import { redactSecrets, secretsOf } from '../../shared/serviceUrls.ts';
import { topics, type Topics } from '../../shared/topics.ts';
import { useLocalStackWhenUnconfigured } from '../stackEnv.ts';

export type Session = { config: Config; logger: Logger; kafka: Kafka; names: Topics };

/** The suite's configuration, from the environment or the local stack's .stack/env; throws a ConfigError naming a bad variable. */
export function loadCliConfig(): Config {
  useLocalStackWhenUnconfigured({ start: false });
  return loadConfig({ ...process.env, BOARD_DISABLED: 'true' });
}

/** Configuration, logger and Kafka client of one CLI run. */
export function openSession(name: string): Session {
  const config = loadCliConfig();
  // KafkaJS's warnings (a rebalance, a retried request) are noise here unless asked for.
  const logger = makeLogger({ level: process.env['LOG_LEVEL'] ? config.logLevel : 'error', name: `profiles ${name}`, to: 'stderr' });
  const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: `profiles-cli-${name}`, logger });
  return { config, logger, kafka, names: topics(config.env) };
}

/** Writes one JSON line to stdout (bigints as strings: offsets). */
export function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item))}\n`);
}

/** A failure as it may be shown: no credential of a service URL, no known password. */
export function describeFailure(error: unknown): string {
  const urls = serviceVariables.map((variable) => process.env[variable]).filter((url): url is string => Boolean(url));
  return redactSecrets(error instanceof Error ? error.message : String(error), secretsOf(urls));
}

/**
 * Runs `work` until it returns or SIGINT / SIGTERM asks it to stop: `stop` is called once, and
 * `work` is expected to return soon after. A second signal ends the process at once (130).
 */
export async function untilInterrupted<T>(work: (stopped: Promise<void>) => Promise<T>): Promise<T> {
  let signalled = false;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => {
    if (signalled) process.exit(130);
    signalled = true;
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(stopped);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
