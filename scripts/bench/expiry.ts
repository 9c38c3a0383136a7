// `npm run bench:expiry`: expiration and erasure on the local stack, in one run.
//
//  (1) erasure throughput and lag: N profiles (temporary and deactivated, with their email claims)
//      due at the same instant are written straight into MongoDB; the real scheduler learns them
//      the way it learns profiles it already has — its reconciliation at start-up (and every
//      RECONCILE_INTERVAL_MS) reads MongoDB and adds a delayed BullMQ job per erasure due within
//      the horizon; the real deletion worker(s) erase them. Erasures are observed from outside, as
//      a subscriber sees them: the DELETED events on customer-changed-<env>-<org>; the receipts'
//      completedAt give the worker's own view.
//  (2) Redis bytes per pending expiration: used_memory before and after a reconciliation pass over
//      M far-future expirations (beyond EXPIRATION_HORIZON_MS: no job by design), and, for
//      comparison, per job for K expirations within the horizon.
//
// Everything runs under random names (PROFILES_ENV, databases, queues) and is removed at the end.
// Progress on stderr; a JSON report in reports/; the last line of stdout is one JSON object.
//
//   npm run bench:expiry -- [--profiles 100000] [--far-future 1000000] [--near-term 10000]
//     [--batch 10000] [--lead SECONDS] [--concurrency N] [--deletion-workers 1] [--max-wait SECONDS]
//     [--no-claims]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { makeAvroCodec } from '../../shared/avro.ts';
import { loadConfig, type Config } from '../../shared/config.ts';
import { erasureQueueName, makeErasureQueue } from '../../shared/erasureQueue.ts';
import { ensureTopics, makeKafka } from '../../shared/kafka.ts';
import type { RunningWorker } from '../../shared/lifecycle.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo, type Mongo } from '../../shared/mongo/connect.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';
import { makeQueue } from '../../shared/queue.ts';
import { makeRedis } from '../../shared/redis.ts';
import { topics } from '../../shared/topics.ts';
import { startDeletionWorker } from '../../workers/deletion/index.ts';
import type { CustomerChanged } from '../../workers/profile/model.ts';
import { reconcileQueueName, startScheduler } from '../../workers/scheduler/index.ts';
import { projectRoot, useLocalStackWhenUnconfigured } from '../stackEnv.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { cpuMeter, perUnit } from './cpu.ts';
import { benchExpiryOrganisation, benchProfile, insertProfiles, type InsertReport } from './expiryData.ts';
import { observe, percentile } from './observe.ts';
import { deleteKeys, keySpace, usedMemory, type KeySpace } from './redisMemory.ts';

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: '100000' },
    'far-future': { type: 'string', default: '1000000' },
    'near-term': { type: 'string', default: '10000' },
    batch: { type: 'string', default: '10000' },
    lead: { type: 'string' },
    concurrency: { type: 'string' },
    'deletion-workers': { type: 'string', default: '1' },
    'max-wait': { type: 'string', default: '1800' },
    'no-claims': { type: 'boolean', default: false },
  },
});
const profileCount = Number(values.profiles);
const farFutureCount = Number(values['far-future']);
const nearTermCount = Number(values['near-term']);
const batch = Number(values.batch);
const deletionWorkers = Number(values['deletion-workers']);
const maxWaitMs = Number(values['max-wait']) * 1_000;
const withClaims = !values['no-claims'];
for (const [name, value] of Object.entries({ profiles: profileCount, 'far-future': farFutureCount, 'near-term': nearTermCount, batch, 'deletion-workers': deletionWorkers, 'max-wait': maxWaitMs })) {
  if (!Number.isInteger(value) || value < 0 || (name === 'batch' && value === 0)) throw new Error(`--${name}: expected a whole number`);
}
// Until the due instant: the inserts, then the scheduler's first reconciliation (the local server
// scans the profiles; see the report's scheduling figures), with a margin. Override with --lead.
const leadMs = values.lead !== undefined ? Number(values.lead) * 1_000 : 30_000 + profileCount * 3;
// Issue 12: ≥ 1,000 erasures/s for 20,000 due at one instant, ≥ 800/s for 100,000.
const targets = { erasuresPerSecond: profileCount > 20_000 ? 800 : 1_000, bytesPerFarFutureExpiration: 100 };

useLocalStackWhenUnconfigured({ start: true });
const runId = `bexp${Date.now().toString(36)}`;
const logger = makeLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'error' });
const log = (message: string) => process.stderr.write(`[bench:expiry] ${message}\n`);
const status = (message: string) => process.stderr.write(`\r[bench:expiry] ${message}   `);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const configFor = (env: string, extra: Record<string, string> = {}): Config =>
  loadConfig({ ...process.env, PROFILES_ENV: env, BOARD_DISABLED: 'true', LOG_LEVEL: 'error', ...extra });
const base = configFor(runId);
const kafka = makeKafka({ brokers: base.kafka.brokers, clientId: runId, logger });
const redis = makeRedis(base.redisUrl, { name: `${runId}-bench` });

// Everything the run creates, removed at the end (also on failure or Ctrl-C).
const cleanups: { label: string; run: () => Promise<unknown> }[] = [];
const workers: RunningWorker[] = [];
async function cleanUp() {
  for (const worker of workers.splice(0).reverse()) await worker.stop().catch((error: unknown) => log(`stopping ${worker.name}: ${(error as Error).message}`));
  for (const { label, run } of cleanups.splice(0).reverse()) await run().catch((error: unknown) => log(`cleanup ${label}: ${(error as Error).message}`));
}
process.once('SIGINT', () => {
  log('interrupted: cleaning up');
  void cleanUp().finally(() => process.exit(130));
});

async function isolatedDb(name: string): Promise<Mongo> {
  const mongo = await connectMongo(base.mongoUri, { dbName: name, appName: runId });
  cleanups.push({ label: `database ${name}`, run: async () => { await mongo.db.dropDatabase(); await mongo.close(); } });
  await ensureIndexes(mongo.db); // as the workers do at start-up, before any profile exists
  return mongo;
}

function removeQueuesOf(env: string) {
  cleanups.push({
    label: `queues of ${env}`,
    run: async () => {
      for (const name of [erasureQueueName(env), reconcileQueueName(env)]) {
        const queue = makeQueue(name, { redisUrl: base.redisUrl });
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close();
        await deleteKeys(redis, `profiles:${name}:*`);
      }
    },
  });
}

function removeTopicsOf(env: string, extra: string[] = []) {
  cleanups.push({
    label: `topics of ${env}`,
    run: async () => {
      const admin = kafka.admin();
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const names = topics(env);
      const mine = [names.commands, names.results, names.dlq, names.expirations, names.customerChanged(benchExpiryOrganisation), ...extra].filter((topic) => existing.has(topic));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine });
      await admin.disconnect();
    },
  });
}

const insertProgress = (label: string, total: number) => {
  const started = performance.now();
  let lastPrint = 0;
  return (done: number) => {
    if (performance.now() - lastPrint < 1_000 && done < total) return;
    lastPrint = performance.now();
    const rate = done / ((performance.now() - started) / 1_000);
    status(`${label}: ${done}/${total} (${Math.round(rate)} docs/s)${done === total ? ' — done\n' : ''}`);
  };
};

const summary = (sorted: number[]) => ({
  samples: sorted.length,
  p50: round(percentile(sorted, 50)),
  p95: round(percentile(sorted, 95)),
  p99: round(percentile(sorted, 99)),
  max: round(sorted.at(-1) ?? Number.NaN),
});

// ---------------------------------------------------------------- (1) erasures
async function measureErasures() {
  const env = `${runId}-erase`;
  // At least twice the reconciliation interval (the configuration requires it).
  const horizonMs = Math.max(300_000, leadMs + 120_000, 2 * Number(process.env['RECONCILE_INTERVAL_MS'] ?? 0));
  const concurrency = values.concurrency ?? process.env['ERASURE_CONCURRENCY'];
  const config = configFor(env, { EXPIRATION_HORIZON_MS: String(horizonMs), ...(concurrency ? { ERASURE_CONCURRENCY: concurrency } : {}) });
  const names = topics(env);
  removeTopicsOf(env);
  removeQueuesOf(env);
  const mongo = await isolatedDb(`${runId}_erase`);

  const dueAtMs = Math.ceil((Date.now() + leadMs) / 1_000) * 1_000;
  const dueAt = new Date(dueAtMs).toISOString();
  log(`(1) ${profileCount} profiles due at ${dueAt} (in ${round(leadMs / 1_000)} s), env ${env}, ${deletionWorkers} deletion worker(s) × ${config.expiry.erasureConcurrency} concurrent erasures`);
  const now = new Date().toISOString();
  const insert = await insertProfiles(mongo.db, {
    count: profileCount,
    batch,
    claims: withClaims && makeClaimKey(config.claimKeySecret),
    make: (index) => benchProfile(index, { base: 3_000_000, expirationDate: dueAt, now }),
    onProgress: insertProgress('inserting due profiles', profileCount),
  });

  // The subscriber's view: DELETED events, when they are seen (wall clock, like the due date).
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: names.customerChanged(benchExpiryOrganisation), numPartitions: config.kafka.eventPartitions }]);
  await admin.disconnect();
  const codec = makeAvroCodec(config.registryUrl);
  const erasedAt = new Map<string, number>();
  let duplicates = 0;
  const reader = await observe({
    kafka,
    logger,
    groupId: `${env}-reader`,
    topics: [names.customerChanged(benchExpiryOrganisation)],
    onMessage: async (_topic, message) => {
      // The wall clock, as the due instant is: performance.timeOrigin + performance.now() drifts
      // from it when the system clock is adjusted (seconds, seen on this machine).
      const seenAt = Date.now();
      const { value } = (await codec.decode(message.value!)) as { value: CustomerChanged };
      if (value.eventType !== 'DELETED') return;
      if (erasedAt.has(value.customerNumber)) duplicates++;
      else erasedAt.set(value.customerNumber, seenAt);
    },
  });

  // The real workers, in this process (as the integration tests run them); each deletion worker on
  // its own MongoDB connection, as separate processes would be.
  for (let index = 0; index < deletionWorkers; index++) {
    const own = await connectMongo(config.mongoUri, { dbName: mongo.db.databaseName, appName: `${runId}-deletion-${index}` });
    cleanups.push({ label: 'deletion connection', run: () => own.close() });
    workers.push(await startDeletionWorker({ config, kafka, mongo: own, logger }));
  }
  const queue = makeErasureQueue(env, config.redisUrl);
  cleanups.push({ label: 'queue handle', run: () => queue.close() });
  log('starting the scheduler: its first reconciliation reads MongoDB and schedules the jobs');
  const schedulingStarted = performance.now();
  const ticker = setInterval(() => {
    void queue.getJobCounts('delayed', 'wait').then((counts) => status(`scheduling: ${counts['delayed'] ?? 0} delayed jobs after ${round((performance.now() - schedulingStarted) / 1_000)} s`));
  }, 2_000);
  workers.push(await startScheduler({ config, kafka, mongo, logger }));
  clearInterval(ticker);
  const schedulingSeconds = (performance.now() - schedulingStarted) / 1_000;
  const counts = await queue.getJobCounts('delayed', 'wait', 'active', 'completed', 'failed');
  const scheduledBeforeDue = Date.now() < dueAtMs;
  log(`\nscheduler ready after ${round(schedulingSeconds)} s: ${JSON.stringify(counts)}; ${scheduledBeforeDue ? `${round((dueAtMs - Date.now()) / 1_000)} s before the due instant` : `${round((Date.now() - dueAtMs) / 1_000)} s AFTER the due instant (use --lead)`}`);
  const redisAtDue = { usedMemory: await usedMemory(redis), queue: await keySpace(redis, `profiles:${erasureQueueName(env)}:*`) };

  while (Date.now() < dueAtMs) {
    status(`waiting for the due instant: ${round((dueAtMs - Date.now()) / 1_000)} s`);
    await sleep(Math.min(1_000, Math.max(1, dueAtMs - Date.now())));
  }
  log('\ndue: erasing');
  const cpu = cpuMeter();
  const deadline = Date.now() + maxWaitMs;
  let lastPrint = 0;
  while (erasedAt.size < profileCount && Date.now() < deadline) {
    if (Date.now() - lastPrint >= 1_000) {
      lastPrint = Date.now();
      const seconds = (Date.now() - dueAtMs) / 1_000;
      status(`erased ${erasedAt.size}/${profileCount} after ${round(seconds)} s (${Math.round(erasedAt.size / Math.max(seconds, 0.001))}/s on average)`);
    }
    await sleep(100);
  }
  const cpuMs = cpu();
  const complete = erasedAt.size >= profileCount;
  log(complete ? `\nall ${profileCount} erased` : `\nstopped waiting after ${maxWaitMs / 1_000} s: ${erasedAt.size}/${profileCount} erased (figures below are for those)`);
  await reader.stop();

  const times = [...erasedAt.values()].sort((a, b) => a - b);
  const lags = times.map((time) => time - dueAtMs);
  const first = times[0] ?? Number.NaN;
  const last = times.at(-1) ?? Number.NaN;
  const erasuresPerSecond = times.length > 1 ? ((times.length - 1) * 1_000) / (last - first) : Number.NaN;

  // The workers' own view: receipts' completedAt (no Kafka consumer in between).
  const receipts = await mongo.db
    .collection<{ _id: string; completedAt: string | null }>('erasureReceipts')
    .find({}, { projection: { completedAt: 1 } })
    .toArray();
  const completed = receipts.flatMap((receipt) => (receipt.completedAt ? [Date.parse(receipt.completedAt)] : [])).sort((a, b) => a - b);
  const receiptRate = completed.length > 1 ? ((completed.length - 1) * 1_000) / (completed.at(-1)! - completed[0]!) : Number.NaN;

  for (const worker of workers.splice(0).reverse()) await worker.stop();
  return {
    env,
    profiles: profileCount,
    claims: insert.claims,
    dueAt,
    leadSeconds: round(leadMs / 1_000),
    config: { horizonMs, reconcileIntervalMs: config.expiry.reconcileIntervalMs, erasureConcurrency: config.expiry.erasureConcurrency, deletionWorkers },
    insert: roundInsert(insert),
    scheduling: { seconds: round(schedulingSeconds), jobs: counts, beforeDue: scheduledBeforeDue, redisUsedMemoryAtDue: redisAtDue.usedMemory, queueAtDue: redisAtDue.queue },
    complete,
    erased: times.length,
    duplicateEvents: duplicates,
    erasuresPerSecond: round(erasuresPerSecond),
    firstErasureAfterDueMs: round(first - dueAtMs),
    lastErasureAfterDueMs: round(last - dueAtMs),
    lagMs: summary(lags),
    // From the due instant to the last erasure: what the server and this process (the workers, the reader) spent on each.
    cpuMsPerErasure: perUnit(cpuMs, times.length),
    receipts: { completed: completed.length, erasuresPerSecond: round(receiptRate), lagMs: summary(completed.map((time) => time - dueAtMs)) },
  };
}

const roundInsert = (insert: InsertReport) => ({ ...insert, seconds: round(insert.seconds), docsPerSecond: round(insert.docsPerSecond) });

// ---------------------------------------------------------------- (2) Redis memory
type MemoryPoint = { usedMemory: number; queue: KeySpace; reconcileQueue: KeySpace };
async function memoryPoint(env: string): Promise<MemoryPoint> {
  return {
    usedMemory: await usedMemory(redis),
    queue: await keySpace(redis, `profiles:${erasureQueueName(env)}:*`),
    reconcileQueue: await keySpace(redis, `profiles:${reconcileQueueName(env)}:*`),
  };
}

/** M profiles due at `dueAt(i)`, then the real scheduler's first reconciliation; Redis before and after. */
async function measureMemory(label: string, count: number, dueAtOf: (index: number) => string) {
  const env = `${runId}-${label}`;
  const config = configFor(env);
  removeTopicsOf(env);
  removeQueuesOf(env);
  const mongo = await isolatedDb(`${runId}_${label}`);
  log(`(2) ${label}: ${count} expirations (horizon ${config.expiry.horizonMs / 1_000} s), env ${env}`);
  const before = await memoryPoint(env);
  const now = new Date().toISOString();
  const insert = await insertProfiles(mongo.db, {
    count,
    batch,
    claims: false, // claims live in MongoDB only; they change nothing in Redis
    make: (index) => benchProfile(index, { base: 10_000_000, expirationDate: dueAtOf(index), now }),
    onProgress: insertProgress(`inserting ${label} profiles`, count),
  });
  const afterInsert = await memoryPoint(env);
  log(`starting the scheduler (${label}): its first reconciliation reads every profile with a date`);
  const started = performance.now();
  const ticker = setInterval(() => status(`reconciling (${label}): ${round((performance.now() - started) / 1_000)} s`), 2_000);
  const scheduler = await startScheduler({ config, kafka, mongo, logger });
  clearInterval(ticker);
  const reconcileSeconds = (performance.now() - started) / 1_000;
  const after = await memoryPoint(env);
  await scheduler.stop();
  const delta = after.usedMemory - before.usedMemory;
  log(`\n${label}: reconciliation ${round(reconcileSeconds)} s; used_memory ${before.usedMemory} → ${after.usedMemory} (${delta >= 0 ? '+' : ''}${delta} B), queue keys ${before.queue.keys} → ${after.queue.keys}`);
  return {
    env,
    expirations: count,
    insert: roundInsert(insert),
    reconcileSeconds: round(reconcileSeconds),
    usedMemory: { before: before.usedMemory, afterInsert: afterInsert.usedMemory, afterReconcile: after.usedMemory, delta },
    bytesPerExpiration: round(delta / count, 2),
    queue: { before: before.queue, after: after.queue, bytesPerExpiration: round((after.queue.bytes - before.queue.bytes) / count, 2) },
    reconcileQueue: after.reconcileQueue,
  };
}

// ---------------------------------------------------------------- run
let report: Record<string, unknown> = {};
try {
  const erasure = profileCount > 0 ? await measureErasures() : null;
  const day = 86_400_000;
  const farFuture = farFutureCount > 0 ? await measureMemory('far', farFutureCount, (index) => new Date(Date.now() + 30 * day + (index % 335) * day).toISOString()) : null;
  // Within the horizon (5 min by default) but after this measurement: the jobs stay delayed.
  const nearTerm = nearTermCount > 0 ? await measureMemory('near', nearTermCount, () => new Date(Date.now() + 150_000).toISOString()) : null;

  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memoryGiB: round(os.totalmem() / 2 ** 30), node: process.version, loadAverage: os.loadavg().map((value) => round(value, 2)) };
  const figures = {
    erasuresPerSecond: erasure?.erasuresPerSecond ?? null,
    erasureLagMs: erasure?.lagMs ?? null,
    erasedProfiles: erasure ? `${erasure.erased}/${erasure.profiles}` : null,
    redisBytesPerFarFutureExpiration: farFuture?.bytesPerExpiration ?? null,
    redisBytesPerNearTermJob: nearTerm?.bytesPerExpiration ?? null,
    redisBytesPerNearTermJobByKeys: nearTerm?.queue.bytesPerExpiration ?? null,
    farFutureReconcileSeconds: farFuture?.reconcileSeconds ?? null,
  };
  const meets = {
    erasuresPerSecond: erasure ? erasure.erasuresPerSecond >= targets.erasuresPerSecond : null,
    bytesPerFarFutureExpiration: farFuture ? farFuture.bytesPerExpiration <= targets.bytesPerFarFutureExpiration : null,
  };
  report = {
    runId,
    at: new Date().toISOString(),
    machine,
    stack: 'local (Kafka 4.4 KRaft, Apicurio 3.3, FerretDB 1.24 SQLite, Redis 7)',
    flags: { profiles: profileCount, farFuture: farFutureCount, nearTerm: nearTermCount, batch, lead: round(leadMs / 1_000), deletionWorkers, claims: withClaims },
    figures,
    targets,
    meets,
    erasure,
    redisMemory: { farFuture, nearTerm },
  };
  log('');
  if (erasure) {
    log(`erasures/s      ${erasure.erasuresPerSecond}   (target ≥ ${targets.erasuresPerSecond}) ${meets.erasuresPerSecond ? 'MET' : 'NOT MET'}; ${erasure.erased}/${erasure.profiles} erased`);
    log(`first erasure   ${erasure.firstErasureAfterDueMs} ms after the due instant (target ≤ 5000)`);
    log(`CPU/erasure     server ${erasure.cpuMsPerErasure.server} ms, Kafka ${erasure.cpuMsPerErasure.kafka} ms, this process ${erasure.cpuMsPerErasure.node} ms (the workers and the reader; from the due instant to the last)`);
    log(`lag after due   p50 ${erasure.lagMs.p50} ms, p95 ${erasure.lagMs.p95} ms, p99 ${erasure.lagMs.p99} ms, max ${erasure.lagMs.max} ms (DELETED events seen)`);
  }
  if (farFuture) log(`Redis/far-future expiration  ${farFuture.bytesPerExpiration} B   (target ≤ ${targets.bytesPerFarFutureExpiration}) ${meets.bytesPerFarFutureExpiration ? 'MET' : 'NOT MET'}; reconciliation over ${farFuture.expirations} took ${farFuture.reconcileSeconds} s`);
  if (nearTerm) log(`Redis/job within the horizon ${nearTerm.bytesPerExpiration} B (used_memory), ${nearTerm.queue.bytesPerExpiration} B (MEMORY USAGE of the queue's keys)`);
  mkdirSync(`${projectRoot}reports`, { recursive: true });
  const file = `reports/bench-expiry-${String(report['at']).replace(/[:.]/g, '-')}.json`;
  writeFileSync(`${projectRoot}${file}`, `${JSON.stringify(report, null, 2)}\n`);
  log(`report: ${file}`);
} finally {
  log('cleaning up (databases, topics, queue keys)');
  await cleanUp();
  redis.disconnect();
}
console.log(JSON.stringify({ runId: report['runId'], figures: report['figures'], targets, meets: report['meets'], machine: report['machine'], flags: report['flags'] }));
process.exit(0);
