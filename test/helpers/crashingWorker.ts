// A worker in its own process that kills itself (SIGKILL, no clean-up at all) at a chosen point.
// Started by `startCrashingWorker` (crashing.ts); the point is `CRASH_AT`:
// - profile worker, first batch: `afterWrite` (MongoDB written, nothing produced), `afterProduce`
//   (produced, the results that mark it sent not stored) or `afterPublish` (produced and marked,
//   offsets not committed);
// - deletion worker: `profile`, right after that step of the first erasure saga it runs.
import { loadConfig } from '../../shared/config.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { startDeletionWorker } from '../../workers/deletion/index.ts';
import { startProfileWorker } from '../../workers/profile/index.ts';

const config = loadConfig(process.env);
const logger = makeLogger({ level: 'fatal' });
const crash = () => {
  process.kill(process.pid, 'SIGKILL');
};
const at = process.env['CRASH_AT'];
const mongo = await connectMongo(config.mongoUri, { dbName: process.env['CRASH_DB']! });
const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: 'crashing-worker', logger });
if (process.env['CRASH_WORKER'] === 'deletion') {
  await startDeletionWorker({
    config,
    kafka,
    mongo,
    logger,
    afterStep: (step) => {
      if (step === at) crash();
    },
  });
} else {
  await startProfileWorker({ config, kafka, mongo, logger, hooks: { [at === 'afterWrite' || at === 'afterProduce' ? at : 'afterPublish']: crash } });
}
process.stdout.write('ready\n');
