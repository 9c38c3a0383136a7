// `profiles verify-erasure`: the auditor's check of one customer's erasure (scripts/verifyErasure.ts),
// printed as one JSON document; the exit code is the verdict (exitCodes there).
import { makeAvroCodec } from '../../shared/avro.ts';
import { connectMongo, type Mongo } from '../../shared/mongo/connect.ts';
import { makeRedis, type Redis } from '../../shared/redis.ts';
import { exitCodes, verifyErasure, type KafkaView } from '../verifyErasure.ts';
import { describeFailure, openSession } from './session.ts';

export async function runVerifyErasure(target: { organisationId: number; customerNumber: string; values: string[] }): Promise<number> {
  let mongo: Mongo | undefined;
  let redis: Redis | undefined;
  try {
    const { config, kafka, names } = openSession('verify-erasure');
    mongo = await connectMongo(config.mongoUri, { appName: 'profiles-cli' });
    redis = makeRedis(config.redisUrl, { name: 'profiles-cli' });
    const view: KafkaView = { kafka, codec: makeAvroCodec(config.registryUrl), topic: names.customerChanged(target.organisationId), maxCompactionLagMs: config.retention.eventMaxCompactionLagMs };
    const result = await verifyErasure({ db: mongo.db, redis, kafka: view }, target);
    const summary = result.receipt
      ? { reason: result.receipt['reason'], requestedAt: result.receipt['requestedAt'], completedAt: result.receipt['completedAt'], steps: result.receipt['steps'] }
      : null;
    // What the command topic and the DLQ may still hold of the customer's own commands: gone
    // within their retention (segments roll at a seventh of it).
    const completedAt = typeof summary?.completedAt === 'string' ? Date.parse(summary.completedAt) : Date.now();
    const forgottenBy = (retentionMs: number) => new Date(completedAt + Math.ceil((retentionMs * 8) / 7)).toISOString();
    const retention = { [names.commands]: forgottenBy(config.retention.commandRetentionMs), [names.dlq]: forgottenBy(config.retention.dlqRetentionMs) };
    console.log(JSON.stringify({ organisationId: target.organisationId, customerNumber: target.customerNumber, complete: result.complete, receipt: summary, findings: result.findings, pendingInKafka: result.pendingInKafka, forgottenBy: retention }, null, 2));
    return result.findings.length > 0 ? exitCodes.trace : result.pendingInKafka.length > 0 ? exitCodes.pendingCompaction : exitCodes.erased;
  } catch (error) {
    // Not a verdict: the configuration is wrong or a service did not answer.
    console.error(`could not verify: ${describeFailure(error)}`);
    return exitCodes.unverified;
  } finally {
    await mongo?.close();
    redis?.disconnect();
  }
}
