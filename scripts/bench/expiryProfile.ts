// Where an erasure's time goes: the erasure saga (workers/deletion) run directly, without BullMQ,
// N erasures with C at once against the local stack, timing every store call (in flight, queueing
// for the serial write turn included). Dev tool for bench:expiry findings.
//   node scripts/bench/expiryProfile.ts [N=1000] [C=16]
import { loadConfig } from '../../shared/config.ts';
import { makeKafka, makeProducer, ensureTopics } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo.ts';
import { ensureIndexes } from '../../shared/mongoIndexes.ts';
import { makeErasureJobs, makeErasureQueue } from '../../shared/erasureQueue.ts';
import { makeEraser } from '../../workers/deletion/erase.ts';
import { makeErasureStore } from '../../workers/deletion/store.ts';
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { useLocalStackWhenUnconfigured } from '../stackEnv.ts';
import { benchProfile, insertProfiles } from './expiryData.ts';
useLocalStackWhenUnconfigured({ start: false });
const N = Number(process.argv[2] ?? 1000), C = Number(process.argv[3] ?? 16);
const id = `perase${Date.now().toString(36)}`;
const config = loadConfig({ ...process.env, PROFILES_ENV: id, BOARD_DISABLED: 'true' });
const logger = makeLogger({ level: 'error' });
const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: id, logger });
const mongo = await connectMongo(config.mongoUri, { dbName: `${id}_db` });
await ensureIndexes(mongo.db);
const due = new Date(Date.now() - 1000).toISOString();
await insertProfiles(mongo.db, { count: N, batch: 10000, claims: true, make: (i) => benchProfile(i, { base: 3000000, expirationDate: due, now: due }) });
const store = makeErasureStore(mongo.db) as any;
const totals: Record<string, { n: number; ms: number }> = {};
const timed = (name: string, fn: (...a: any[]) => Promise<any>) => async (...a: any[]) => { const t = performance.now(); try { return await fn(...a); } finally { const e = (totals[name] ??= { n: 0, ms: 0 }); e.n++; e.ms += performance.now() - t; } };
for (const k of Object.keys(store)) if (typeof store[k] === 'function' && k !== 'ensureIndexes') store[k] = timed(k, store[k]);
const admin = kafka.admin(); await admin.connect(); await ensureTopics(admin, [{ topic: `${id}-ev`, numPartitions: 3 }]);
const producer = makeProducer(kafka); await producer.connect();
const codec = makeAvroCodec(config.registryUrl);
const type = await codec.register(await readSchemaFile(new URL('../../schemas/CustomerChanged.avsc', import.meta.url)));
const queue = makeErasureQueue(id, config.redisUrl); const jobs = makeErasureJobs(queue);
const eraser = makeEraser({ store, clock: () => new Date(), logger, removeJobs: timed('removeJobs', (t) => jobs.cancel(t)), publishDeleted: timed('publish', (e) => producer.send({ topic: `${id}-ev`, acks: -1, messages: [{ key: e.customerNumber, value: codec.encode(type, e) }] })) });
let next = 0; const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async () => { while (next < N) { const i = next++; await eraser.erase({ organisationId: 1, customerNumber: String(3000000 + i) }); } }));
const el = performance.now() - t0;
console.log(`${N} erasures, concurrency ${C}: ${el.toFixed(0)} ms, ${(N / el * 1000).toFixed(1)}/s`);
for (const [k, v] of Object.entries(totals)) console.log(k.padEnd(14), String(v.n).padStart(6), 'calls', (v.ms / v.n).toFixed(2).padStart(8), 'ms avg (in flight incl. queueing)');
await queue.obliterate({ force: true }); await queue.close(); await producer.disconnect(); await admin.deleteTopics({ topics: [`${id}-ev`] }); await admin.disconnect(); await mongo.db.dropDatabase(); await mongo.close();
process.exit(0);
