// `npm run bench:latency`: command → event latency of the suite as `npm start` runs it (every
// worker in one process), on a database that already holds `--profiles` customers, at each of
// `--rates`; and, first, what one step costs in MongoDB: sequential round trips before the produce,
// statements and documents written per command, counted with the driver's command monitoring while
// commands are sent one at a time. Progress on stderr; a JSON report in reports/; the last line of
// stdout is one JSON object with the figures.
//
//   npm run bench:latency -- [--profiles 100000] [--rates 50,500] [--seconds 20] [--probe 200]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { startSuite } from '../../app/main.ts';
import { definitionKey } from '../../workers/profile/store.ts';
import { loadConfig, type Config } from '../../shared/config.ts';
import { makeAvroCodec } from '../../shared/avro.ts';
import { ensureTopics, makeKafka, makeProducer } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';
import { eventTopicConfig } from '../../shared/topicConfigs.ts';
import { correlationIdHeader, topics } from '../../shared/topics.ts';
import { projectRoot, useLocalStackWhenUnconfigured } from '../stackEnv.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { benchProfile } from './expiryData.ts';
import { observe, percentile, progress } from './observe.ts';
import { cpuMeter, perUnit, type CpuMs } from './cpu.ts';
import { documentsSent, statementCounter, type StatementCount } from './statements.ts';
import { stepTimes, type Timings } from './stepTimes.ts';
import { benchOrganisation, benchPreference, workload, type BenchCommand } from './workload.ts';

const { values } = parseArgs({
  options: {
    profiles: { type: 'string', default: '100000' },
    rates: { type: 'string', default: '50,500' },
    seconds: { type: 'string', default: '20' },
    probe: { type: 'string', default: '200' },
  },
});
const profileCount = Number(values.profiles);
const rates = values.rates.split(',').map(Number);
const seconds = Number(values.seconds);
const probeCount = Number(values.probe);
for (const [name, value] of [['profiles', profileCount], ['seconds', seconds], ['probe', probeCount], ...rates.map((rate) => ['rates', rate] as const)] as const) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: a whole number ≥ 0, got ${String(value)}`);
}

const log = (message: string) => process.stderr.write(`[bench:latency] ${message}\n`);
useLocalStackWhenUnconfigured({ start: true });
const runId = `lat${Date.now().toString(36)}`;
const baseEnv = loadConfig({ ...process.env, BOARD_DISABLED: 'true' });
const mongoUri = new URL(baseEnv.mongoUri);
mongoUri.pathname = `/${runId}`;
const config: Config = loadConfig({
  ...process.env,
  PROFILES_ENV: runId,
  MONGODB_URI: mongoUri.toString(),
  BOARD_DISABLED: 'true',
  LOG_LEVEL: 'error',
  OPS_PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
});
const logger = makeLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'error' });
const names = topics(config.env);
const eventTopic = names.customerChanged(benchOrganisation);

// ---------------------------------------------------------------- a database that holds customers
const seedMongo = await connectMongo(config.mongoUri);
await ensureIndexes(seedMongo.db);
const now = new Date().toISOString();
const base = 5_000_000;
const customers: string[] = [];
const seedStarted = performance.now();
for (let start = 0; start < profileCount; start += 1_000) {
  const docs = Array.from({ length: Math.min(1_000, profileCount - start) }, (_, offset) => {
    const index = start + offset;
    // Active permanent profiles without an email or a date: updated by the workload, never erased.
    return { ...benchProfile(index, { base, expirationDate: now, now }), profileType: 'S' as const, status: 'A' as const, expirationDate: null, email: null, version: 1 };
  });
  await seedMongo.db.collection<ProfileDoc>('profiles').insertMany(docs, { ordered: false });
  for (const doc of docs) customers.push(doc.customerNumber);
  if (start % 20_000 === 0) process.stderr.write(`\r[bench:latency] seeding: ${start}/${profileCount}   `);
}
await seedMongo.db.collection<{ _id: string; organisationId: number; key: string; description: null; allowedValues: null }>('preferenceDefinitions').insertOne({ _id: definitionKey(benchOrganisation, benchPreference), organisationId: benchOrganisation, key: benchPreference, description: null, allowedValues: null });
log(`seeded ${profileCount} profiles in ${Math.round((performance.now() - seedStarted) / 1_000)} s`);

// ---------------------------------------------------------------- the suite, as npm start runs it
const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: `${runId}-client`, logger });
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, [{ topic: eventTopic, numPartitions: config.kafka.eventPartitions, config: eventTopicConfig(config.retention) }]);
const steps = stepTimes();
const suite = await startSuite(config, ['profile', 'scheduler', 'deletion'], logger, { monitorCommands: true, tracing: steps.tracing });
const producer = makeProducer(kafka);
await producer.connect();

type Statement = { requestId: number; name: string; collection: string; documents: number; resultInsert: boolean; startedAt: number; endedAt: number | null };
const statements = new Map<number, Statement>();
let recording = false;
/** Statements by kind (`find profiles`) and their documents, counted while a rate runs. */
const atRate = statementCounter(suite.mongo.client);
suite.mongo.client.on('commandStarted', (event) => {
  const command = event.command as Record<string, unknown>;
  const collection = String(command[event.commandName] ?? '');
  if (!recording) return;
  const resultInsert = event.commandName === 'insert' && collection === 'commands' && Array.isArray(command['documents']) && (command['documents'] as { result?: unknown }[]).some((doc) => doc.result !== undefined);
  statements.set(event.requestId, { requestId: event.requestId, name: event.commandName, collection, documents: documentsSent(event), resultInsert, startedAt: performance.now(), endedAt: null });
});
const ended = (event: { requestId: number }) => {
  const statement = statements.get(event.requestId);
  if (statement) statement.endedAt = performance.now();
};
suite.mongo.client.on('commandSucceeded', ended);
suite.mongo.client.on('commandFailed', ended);

const sentAt = new Map<string, number>();
const seenAt = new Map<string, number>();
/** Commands answered without an event (refused, or no change): done, but no latency sample. */
const withoutEvent = new Set<string>();
const codec = makeAvroCodec(config.registryUrl);
const events = await observe({
  kafka,
  logger,
  groupId: `${runId}-reader`,
  topics: [eventTopic, names.results],
  onMessage: async (topic, message, at) => {
    if (topic === names.results) {
      const { value } = (await codec.decode(message.value!)) as { value: { commandId: string; status: string; message: string | null } };
      if (value.status === 'REJECTED' || value.message === 'no change') withoutEvent.add(value.commandId);
      return;
    }
    const correlation = message.headers?.[correlationIdHeader]?.toString();
    if (correlation && sentAt.has(correlation) && !seenAt.has(correlation)) seenAt.set(correlation, at);
  },
});
const done = (id: string) => seenAt.has(id) || withoutEvent.has(id);
const send = async (commands: BenchCommand[]) => {
  const at = performance.now();
  for (const { value } of commands) sentAt.set(String(value['commandId']), at);
  await producer.send({
    topic: names.commands,
    acks: 1,
    messages: commands.map(({ key, value }) => ({ key, value: JSON.stringify(value), headers: { 'ET-Client-Name': 'bench-runner', [correlationIdHeader]: String(value['commandId']) } })),
  });
};
const waitFor = async (done: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for events');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

// A warm-up, so that topics, connections and the number block exist before anything is measured.
const warmUp = workload({ count: 50, customers, runId: `${runId}-warm`, seed: 3 });
await send(warmUp);
await waitFor(() => warmUp.every(({ value }) => done(String(value['commandId']))), 60_000);

// ---------------------------------------------------------------- round trips, one command at a time
/** Sequential round trips: runs of statements in flight together (a new one starts when none is). */
function waves(list: Statement[]): Statement[][] {
  const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt);
  const result: Statement[][] = [];
  let endOfWave = -Infinity;
  for (const statement of sorted) {
    if (statement.startedAt > endOfWave) result.push([]);
    result.at(-1)!.push(statement);
    endOfWave = Math.max(endOfWave, statement.endedAt ?? statement.startedAt);
  }
  return result;
}
type Probe = { type: string; roundTripsBeforeProduce: number; statements: number; documentsWritten: number };
const probes: Probe[] = [];
const probeCommands = workload({ count: probeCount, customers, runId: `${runId}-probe`, seed: 11 });
for (const [index, command] of probeCommands.entries()) {
  const id = String(command.value['commandId']);
  statements.clear();
  recording = true;
  await send([command]);
  await waitFor(() => done(id), 10_000);
  // The step ends with its result stored: after the produce for a change (it marks the change's
  // entry as sent), before it for a result without an event.
  await waitFor(() => [...statements.values()].some((statement) => statement.resultInsert && statement.endedAt !== null), 2_000).catch(() => undefined);
  recording = false;
  const step = [...statements.values()].filter((statement) => statement.endedAt !== null);
  const closing = step.find((statement) => statement.resultInsert);
  const ownStep = closing ? step.filter((statement) => statement.startedAt <= closing.startedAt) : step;
  const stepWaves = waves(ownStep);
  const resultWave = stepWaves.findIndex((wave) => wave.some((statement) => statement.resultInsert));
  const producedAfter = withoutEvent.has(id) ? resultWave : resultWave - 1;
  const writes = new Set(['insert', 'update', 'delete', 'findAndModify']);
  probes.push({
    type: String(command.value['type']),
    roundTripsBeforeProduce: producedAfter + 1,
    statements: ownStep.length,
    documentsWritten: ownStep.filter((statement) => writes.has(statement.name)).reduce((sum, statement) => sum + statement.documents, 0),
  });
  if (index % 20 === 0) process.stderr.write(`\r[bench:latency] round trips: ${index}/${probeCommands.length}   `);
}
process.stderr.write('\n');
const average = (list: number[]) => Math.round((list.reduce((sum, value) => sum + value, 0) / Math.max(1, list.length)) * 100) / 100;
const byType = Object.fromEntries(
  [...new Set(probes.map((probe) => probe.type))].sort().map((type) => {
    const of = probes.filter((probe) => probe.type === type);
    return [type, { samples: of.length, roundTripsBeforeProduce: { max: Math.max(...of.map((probe) => probe.roundTripsBeforeProduce)), mean: average(of.map((probe) => probe.roundTripsBeforeProduce)) }, statementsPerCommand: average(of.map((probe) => probe.statements)), documentsWrittenPerCommand: average(of.map((probe) => probe.documentsWritten)) }];
  }),
);

// ---------------------------------------------------------------- latency at fixed rates
const latency: Record<string, { achievedRate: number; samples: number; p50: number; p95: number; p99: number; max: number; slowestPerSecond: number[]; steps: Timings; statementsPerCommand: Record<string, StatementCount>; cpuMsPerCommand: CpuMs }> = {};
for (const rate of rates) {
  const commands = workload({ count: rate * seconds, customers, runId: `${runId}-r${rate}`, seed: 7 + rate });
  log(`latency: ${rate} commands/s for ${seconds} s`);
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1_000));
  const started = performance.now();
  steps.recording(true);
  atRate.start();
  const cpu = cpuMeter();
  for (let index = 0; index < commands.length; index += perTick) {
    const wait = started + (index / rate) * 1_000 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await send(commands.slice(index, index + perTick));
  }
  const achievedRate = (commands.length * 1_000) / (performance.now() - started);
  const ids = commands.map(({ value }) => String(value['commandId']));
  await progress(`${rate}/s`, () => ids.every(done), () => `${ids.filter(done).length}/${ids.length} answered`, 300_000);
  const cpuMs = cpu();
  steps.recording(false);
  const statementsPerCommand = atRate.stop(commands.length);
  const sorted = ids.flatMap((id) => (seenAt.has(id) ? [seenAt.get(id)! - sentAt.get(id)!] : [])).sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 10) / 10;
  // Each second of sending: its slowest command (a stall shows as a run of slow seconds).
  const perSecond = Array.from({ length: seconds }, () => 0);
  for (const id of ids) {
    const sent = sentAt.get(id);
    const seen = seenAt.get(id);
    if (sent === undefined || seen === undefined) continue;
    const second = Math.min(seconds - 1, Math.floor((sent - started) / 1_000));
    perSecond[second] = Math.max(perSecond[second]!, round(seen - sent));
  }
  latency[`${rate}/s`] = { achievedRate: round(achievedRate), samples: sorted.length, p50: round(percentile(sorted, 50)), p95: round(percentile(sorted, 95)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? Number.NaN), slowestPerSecond: perSecond, steps: steps.summary(), statementsPerCommand, cpuMsPerCommand: perUnit(cpuMs, commands.length) };
}

// ---------------------------------------------------------------- report
const report = {
  runId,
  at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  stack: 'local (Kafka 4.4 KRaft, Apicurio 3.3, FerretDB 1.24 SQLite, Redis 7); the suite in one process as npm start runs it',
  storedProfiles: profileCount,
  perCommand: byType,
  latencyMs: latency,
  targets: { roundTripsBeforeProduce: { update: 3, creation: 4 }, '50/s': { p50: 15, p99: 40 }, '500/s': { p99: 150 } },
};
mkdirSync(`${projectRoot}reports`, { recursive: true });
const file = `${projectRoot}reports/bench-latency-${report.at.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
log(`report: ${file}`);
for (const [type, figures] of Object.entries(byType)) log(`${type}: ${figures.roundTripsBeforeProduce.mean} round trips before the produce (max ${figures.roundTripsBeforeProduce.max}), ${figures.statementsPerCommand} statements, ${figures.documentsWrittenPerCommand} documents written per command`);
for (const [rate, figures] of Object.entries(latency)) {
  log(`${rate}: p50 ${figures.p50} ms, p95 ${figures.p95} ms, p99 ${figures.p99} ms (${figures.samples} events)`);
  const spans = Object.entries(figures.steps).map(([name, { count, meanMs, p50Ms, p99Ms }]) => `${name} ${name.endsWith('commands') ? `mean ${meanMs}, p99 ${p99Ms}` : `${count}× mean ${meanMs} ms, p50 ${p50Ms}, p99 ${p99Ms}`}`);
  log(`${rate}: slowest command of each second of sending (ms): ${figures.slowestPerSecond.join(' ')}`);
  log(`${rate}: where a step's time goes: ${spans.join('; ')}`);
  log(`${rate}: CPU per command: server ${figures.cpuMsPerCommand.server} ms, Kafka ${figures.cpuMsPerCommand.kafka} ms, this process ${figures.cpuMsPerCommand.node} ms (the suite, the benchmark's sender and reader)`);
  log(`${rate}: MongoDB statements / documents per command: ${Object.entries(figures.statementsPerCommand).map(([kind, count]) => `${kind} ${count.statements}/${count.documents}`).join(', ')}`);
}

await events.stop();
await producer.disconnect();
await suite.stop();
await seedMongo.db.dropDatabase();
await seedMongo.close();
await admin.deleteTopics({ topics: [names.commands, names.results, names.dlq, names.expirations, eventTopic] }).catch(() => undefined);
await admin.disconnect();
console.log(JSON.stringify(report));
process.exit(0);
