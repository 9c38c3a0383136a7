// A profile worker in its own process that kills itself (SIGKILL, no clean-up at all) at a chosen
// point of its first batch: `CRASH_AT=afterWrite` (MongoDB written, nothing produced) or
// `CRASH_AT=afterPublish` (produced, offsets not committed). Used by the crash tests.
import { loadConfig } from '../../shared/config.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo.ts';
import { startProfileWorker } from '../../workers/profile/index.ts';

const config = loadConfig(process.env);
const logger = makeLogger({ level: 'fatal' });
const crash = () => {
  process.kill(process.pid, 'SIGKILL');
};
const at = process.env['CRASH_AT'];
const mongo = await connectMongo(config.mongoUri, { dbName: process.env['CRASH_DB']! });
await startProfileWorker({
  config,
  kafka: makeKafka({ brokers: config.kafka.brokers, clientId: 'crashing-worker', logger }),
  mongo,
  logger,
  hooks: at === 'afterWrite' ? { afterWrite: crash } : { afterPublish: crash },
});
process.stdout.write('ready\n');
