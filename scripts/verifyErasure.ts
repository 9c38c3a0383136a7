// The auditor's check that a customer was erased: the receipt is complete, and no MongoDB document
// and no Redis key holds the customer's number or any of the given personal values.
//
//   npm run verify-erasure -- --organisation 1 --customer 1000042 [--value kari@example.com --value 40000000]
//
// Exit code 0: erasure complete and no trace; 1: a trace or an incomplete receipt (each printed);
// 2: bad usage. Uses the suite's configuration (.stack/env when nothing is set). Allowed to mention
// the customer number: the erasure receipt itself, the command log (`commands`: command ids,
// result codes and versions, kept so that a re-sent command is not applied again; no personal data)
// and a pending claim sweep (`claimSweeps`).
import { parseArgs } from 'node:util';
import type { Db } from 'mongodb';
import { loadConfig } from '../shared/config.ts';
import { erasureJobId } from '../shared/expiry.ts';
import { connectMongo } from '../shared/mongo.ts';
import { makeRedis, type Redis } from '../shared/redis.ts';
import { useLocalStackWhenUnconfigured } from './stackEnv.ts';

export type Finding = { where: string; what: string };
export type Verification = { complete: boolean; receipt: Record<string, unknown> | null; findings: Finding[] };

// `claimSweeps`: the erasure's own bookkeeping (ids only), gone within a minute of the receipt;
// a claim still holding the customer's number is a finding of its own.
const allowedCollections = new Set(['erasureReceipts', 'commands', 'claimSweeps']);

/** Whether a JSON text mentions the customer number as a value (not as part of a longer number). */
const mentionsNumber = (text: string, customerNumber: string) => new RegExp(`(?<![0-9])${customerNumber}(?![0-9])`).test(text);

export async function verifyErasure(deps: { db: Db; redis: Redis }, target: { organisationId: number; customerNumber: string; values: string[] }): Promise<Verification> {
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

  return { complete: findings.length === 0, receipt: receipt as Record<string, unknown> | null, findings };
}

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
  try {
    const result = await verifyErasure({ db: mongo.db, redis }, { organisationId, customerNumber: values.customer!, values: values.value });
    const summary = result.receipt
      ? { reason: result.receipt['reason'], requestedAt: result.receipt['requestedAt'], completedAt: result.receipt['completedAt'], steps: result.receipt['steps'] }
      : null;
    console.log(JSON.stringify({ organisationId, customerNumber: values.customer, complete: result.complete, receipt: summary, findings: result.findings }, null, 2));
    process.exitCode = result.complete ? 0 : 1;
  } finally {
    await mongo.close();
    redis.disconnect();
  }
}

if (import.meta.main) await main();
