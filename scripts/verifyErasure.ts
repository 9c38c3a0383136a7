// The auditor's check that a customer was erased: the receipt is complete, and no MongoDB document
// and no Redis key holds the customer's number or any of the given personal values.
//
//   npm run verify-erasure -- --organisation 1 --customer 1000042 [--value kari@example.com --value 40000000]
//
// Exit code 0: erasure complete and no trace, in MongoDB, Redis and the organisation's event topic;
// 3: erased in MongoDB and Redis, but snapshots still in the event topic until compaction (each
// printed with the time by which it must be gone); 1: a trace or an incomplete receipt (each
// printed; a snapshot past its compaction bound, or an event topic that is not compacted, is one);
// 2: bad usage; 4: a service did not answer (nothing verified). Also prints by when the command
// topic and the DLQ forget. Uses the suite's configuration (.stack/env when nothing is set). Allowed to mention
// the customer number: the erasure receipt itself, the command log (`commands`: command ids,
// result codes and versions, kept so that a re-sent command is not applied again; no personal data)
// and a pending claim sweep (`claimSweeps`).
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import type { Db } from 'mongodb';
import { makeAvroCodec, type AvroCodec } from '../shared/avro.ts';
import { makeKafka, topicConfigOf } from '../shared/kafka.ts';
import { makeLogger } from '../shared/logger.ts';
import { topics } from '../shared/topics.ts';
import { readToEnd } from '../shared/topicReader.ts';
import type { CustomerChanged } from '../workers/profile/model.ts';
import { loadConfig } from '../shared/config.ts';
import { erasureJobId } from '../shared/expiry.ts';
import { connectMongo } from '../shared/mongo/connect.ts';
import { makeRedis, type Redis } from '../shared/redis.ts';
import { useLocalStackWhenUnconfigured } from './stackEnv.ts';

export type Finding = { where: string; what: string };
/** A record of the customer's event topic that still carries personal data, and when compaction must have removed it. */
export type PendingInKafka = { topic: string; partition: number; offset: string; eventType: string; version: number; writtenAt: string; removableBy: string };
export type Verification = {
  complete: boolean;
  receipt: Record<string, unknown> | null;
  findings: Finding[];
  /** Erased in MongoDB and Redis, but snapshots still in the event topic (compaction not yet run). */
  pendingInKafka: PendingInKafka[];
};

/** What the verifier needs to read an organisation's event topic. */
export type KafkaView = {
  kafka: Kafka;
  codec: Pick<AvroCodec, 'decode'>;
  topic: string;
  /** EVENT_MAX_COMPACTION_LAG_MS: segments roll and superseded snapshots become compactable at this age. */
  maxCompactionLagMs: number;
};

/**
 * The customer's records in its organisation's event topic (read from its creation, or whole when
 * the receipt does not say when that was): each
 * one with a profile is personal data still in Kafka. Once the DELETED event is there, compaction
 * must remove them: after the maximum lag their segment rolls (at the next event of the topic) and
 * the cleaner keeps the customer's latest record only, the DELETED event.
 */
export async function findInEventTopic(view: KafkaView, customerNumber: string, since?: string): Promise<{ pending: PendingInKafka[]; deleted: boolean }> {
  // From the customer's creation on — a day earlier: record timestamps come from the producers'
  // clocks, which may be off; reading a little more costs little, missing a record would not.
  const from = since === undefined ? undefined : Date.parse(since) - 86_400_000;
  const read = await readToEnd(view.kafka, [view.topic], from === undefined || Number.isNaN(from) ? {} : { fromTimestamp: from });
  const pending: PendingInKafka[] = [];
  let deletedAt: number | null = null;
  for (const { partition, message } of read) {
    if (message.key?.toString() !== customerNumber || !message.value) continue;
    const event = (await view.codec.decode(message.value)).value as CustomerChanged;
    const writtenAt = Number(message.timestamp);
    if (event.eventType === 'DELETED') deletedAt = Math.max(deletedAt ?? 0, writtenAt);
    if (event.profile !== null) pending.push({ topic: view.topic, partition, offset: message.offset, eventType: event.eventType, version: event.version, writtenAt: new Date(writtenAt).toISOString(), removableBy: '' });
  }
  const bound = (deletedAt ?? Date.now()) + 2 * view.maxCompactionLagMs;
  for (const record of pending) record.removableBy = new Date(Math.max(bound, Date.parse(record.writtenAt) + view.maxCompactionLagMs)).toISOString();
  return { pending, deleted: deletedAt !== null };
}

// `claimSweeps`: the erasure's own bookkeeping (ids only), gone within a minute of the receipt;
// a claim still holding the customer's number is a finding of its own.
const allowedCollections = new Set(['erasureReceipts', 'commands', 'claimSweeps']);

/** Whether a JSON text mentions the customer number as a value (not as part of a longer number). */
const mentionsNumber = (text: string, customerNumber: string) => new RegExp(`(?<![0-9])${customerNumber}(?![0-9])`).test(text);

export async function verifyErasure(deps: { db: Db; redis: Redis; kafka?: KafkaView }, target: { organisationId: number; customerNumber: string; values: string[] }): Promise<Verification> {
  const findings: Finding[] = [];
  const values = target.values.map((value) => value.toLowerCase()).filter((value) => value.length >= 3);
  const inspect = (where: string, text: string, numberAllowed: boolean) => {
    const lower = text.toLowerCase();
    for (const value of values) if (lower.includes(value)) findings.push({ where, what: 'a given personal value' });
    if (!numberAllowed && mentionsNumber(text, target.customerNumber)) findings.push({ where, what: 'the customer number' });
  };

  const id = `${target.organisationId}:${target.customerNumber}`;
  const receipt = await deps.db.collection('erasureReceipts').findOne({ _id: id as never });
  if (!receipt) findings.push({ where: 'erasureReceipts', what: 'no erasure receipt' });
  if (await deps.db.collection('erasuresInProgress').findOne({ _id: id as never })) findings.push({ where: 'erasuresInProgress', what: 'erasure started and not completed' });

  // A merged temporary profile lives on as a number in the profile it was merged into
  // (relatedCustomerNumbers, its MERGED and DELETED events): that profile may mention the number.
  const merged = receipt?.['reason'] === 'MERGED';
  const mergedInto = (name: string, doc: Record<string, unknown>) =>
    merged && name === 'profiles' && Array.isArray(doc['relatedCustomerNumbers']) && doc['relatedCustomerNumbers'].includes(target.customerNumber);
  for (const { name } of await deps.db.listCollections({}, { nameOnly: true }).toArray()) {
    for await (const doc of deps.db.collection(name).find({})) {
      inspect(`mongodb ${deps.db.databaseName}.${name} _id=${String(doc['_id'])}`, JSON.stringify(doc), allowedCollections.has(name) || mergedInto(name, doc));
    }
  }

  const jobId = erasureJobId(target.organisationId, target.customerNumber);
  let cursor = '0';
  do {
    const [next, keys] = await deps.redis.scan(cursor, 'COUNT', 1_000);
    cursor = next;
    for (const key of keys) {
      if (key.includes(jobId) && !key.endsWith(':events')) findings.push({ where: `redis ${key}`, what: 'a queue job about the customer' });
      const type = await deps.redis.type(key);
      const text =
        type === 'string' ? ((await deps.redis.get(key)) ?? '')
        : type === 'hash' ? JSON.stringify(await deps.redis.hgetall(key))
        : type === 'list' ? JSON.stringify(await deps.redis.lrange(key, 0, -1))
        : type === 'set' ? JSON.stringify(await deps.redis.smembers(key))
        : type === 'zset' ? JSON.stringify(await deps.redis.zrange(key, 0, -1))
        : type === 'stream' ? JSON.stringify(await deps.redis.xrange(key, '-', '+'))
        : '';
      inspect(`redis ${key}`, `${key} ${text}`, false);
    }
  } while (cursor !== '0');

  let pendingInKafka: PendingInKafka[] = [];
  if (deps.kafka) {
    const since = typeof receipt?.['customerSince'] === 'string' ? receipt['customerSince'] : undefined;
    const inTopic = await findInEventTopic(deps.kafka, target.customerNumber, since);
    const where = `kafka ${deps.kafka.topic}`;
    if (!inTopic.deleted && receipt) findings.push({ where, what: 'no DELETED event' });
    if (!(await isCompacted(deps.kafka))) findings.push({ where, what: 'the topic is not compacted: snapshots of erased customers stay until its retention' });
    // Past its bound a snapshot is a trace, not a compaction still to come.
    const now = Date.now();
    for (const record of inTopic.pending) if (Date.parse(record.removableBy) < now) findings.push({ where: `${where} [${record.partition}]@${record.offset}`, what: `personal data past its compaction bound (${record.removableBy})` });
    pendingInKafka = inTopic.pending.filter((record) => Date.parse(record.removableBy) >= now);
  }
  return { complete: findings.length === 0 && pendingInKafka.length === 0, receipt: receipt as Record<string, unknown> | null, findings, pendingInKafka };
}

/** Whether the topic is configured to compact (what makes an erased customer's snapshots go). */
async function isCompacted(view: KafkaView): Promise<boolean> {
  const admin = view.kafka.admin();
  await admin.connect();
  try {
    return ((await topicConfigOf(admin, view.topic))['cleanup.policy'] ?? '').split(',').includes('compact');
  } finally {
    await admin.disconnect();
  }
}

/** Exit codes: erased everywhere; a trace or an incomplete erasure; bad usage; erased but for compaction still to come in Kafka; could not check. */
export const exitCodes = { erased: 0, trace: 1, usage: 2, pendingCompaction: 3, unverified: 4 } as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { organisation: { type: 'string' }, customer: { type: 'string' }, value: { type: 'string', multiple: true, default: [] } },
  });
  const organisationId = Number(values.organisation);
  if (!Number.isSafeInteger(organisationId) || organisationId <= 0 || !/^\d+$/.test(values.customer ?? '')) {
    console.error('usage: npm run verify-erasure -- --organisation <id> --customer <number> [--value <personal value>]...');
    process.exit(2);
  }
  useLocalStackWhenUnconfigured({ start: false });
  const config = loadConfig({ ...process.env, BOARD_DISABLED: 'true' });
  const mongo = await connectMongo(config.mongoUri);
  const redis = makeRedis(config.redisUrl);
  const logger = makeLogger({ level: 'error', name: 'verify-erasure' });
  const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: 'verify-erasure', logger });
  const names = topics(config.env);
  try {
    const view: KafkaView = { kafka, codec: makeAvroCodec(config.registryUrl), topic: names.customerChanged(organisationId), maxCompactionLagMs: config.retention.eventMaxCompactionLagMs };
    const result = await verifyErasure({ db: mongo.db, redis, kafka: view }, { organisationId, customerNumber: values.customer!, values: values.value });
    const summary = result.receipt
      ? { reason: result.receipt['reason'], requestedAt: result.receipt['requestedAt'], completedAt: result.receipt['completedAt'], steps: result.receipt['steps'] }
      : null;
    // What the command topic and the DLQ may still hold of the customer's own commands: gone
    // within their retention (segments roll at a seventh of it).
    const completedAt = typeof summary?.completedAt === 'string' ? Date.parse(summary.completedAt) : Date.now();
    const forgottenBy = (retentionMs: number) => new Date(completedAt + Math.ceil((retentionMs * 8) / 7)).toISOString();
    const retention = { [names.commands]: forgottenBy(config.retention.commandRetentionMs), [names.dlq]: forgottenBy(config.retention.dlqRetentionMs) };
    console.log(JSON.stringify({ organisationId, customerNumber: values.customer, complete: result.complete, receipt: summary, findings: result.findings, pendingInKafka: result.pendingInKafka, forgottenBy: retention }, null, 2));
    process.exitCode = result.findings.length > 0 ? exitCodes.trace : result.pendingInKafka.length > 0 ? exitCodes.pendingCompaction : exitCodes.erased;
  } catch (error) {
    // Not a verdict: a service did not answer.
    console.error(`could not verify: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = exitCodes.unverified;
  } finally {
    await mongo.close();
    redis.disconnect();
  }
}

if (import.meta.main) await main();
