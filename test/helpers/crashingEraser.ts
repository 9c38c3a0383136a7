// A deletion worker in its own process that kills itself (SIGKILL) right after the `profile`
// step of the first erasure saga it runs. Used by the expiry tests.
import { loadConfig } from '../../shared/config.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo.ts';
import { startDeletionWorker } from '../../workers/deletion/index.ts';

const config = loadConfig(process.env);
const logger = makeLogger({ level: 'fatal' });
const mongo = await connectMongo(config.mongoUri, { dbName: process.env['CRASH_DB']! });
await startDeletionWorker({
  config,
  kafka: makeKafka({ brokers: config.kafka.brokers, clientId: 'crashing-eraser', logger }),
  mongo,
  logger,
  afterStep: (step) => {
    if (step === 'profile') process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('ready\n');
