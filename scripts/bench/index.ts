// `npm run bench`: the suite against its floor and a naive implementation, on the local stack, in
// one run: a mixed phase, then creations, then updates, each against its floor and against the
// floor with the suite's documents (see baselines.ts), with the MongoDB statements and documents
// the suite spends per command; after the mix, command→event latency at a fixed rate. Progress on stderr; a JSON report, a latency histogram and
// a throughput chart in reports/; the last line of stdout is one JSON object with the figures.
//
//   npm run bench -- [--commands 50000] [--naive-commands 5000] [--customers 2000] [--rate 1000] [--seconds 15] [--phase-commands 20000]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../../shared/config.ts';
import { ensureTopics, makeKafka, makeProducer } from '../../shared/kafka.ts';
import { makeLogger } from '../../shared/logger.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';
import { startProfileWorker } from '../../workers/profile/index.ts';
import type { StepTracing } from '../../shared/tracing.ts';
import { projectRoot, useLocalStackWhenUnconfigured } from '../stackEnv.ts';
import { startDocumentsFloor, startFloor, startNaive } from './baselines.ts';
import { cpuMeter, perUnit } from './cpu.ts';
import { latencyHistogramSvg, throughputChartSvg } from './histogram.ts';
import { observe, percentile, progress } from './observe.ts';
import { statementCounter, totalOf } from './statements.ts';
import { benchOrganisation, benchPreference, creations, updates, workload, type BenchCommand } from './workload.ts';
import { makeAvroCodec } from '../../shared/avro.ts';

const { values } = parseArgs({
  options: {
    commands: { type: 'string', default: '50000' },
    'naive-commands': { type: 'string' },
    customers: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '15' },
    'phase-commands': { type: 'string' },
  },
});
const commandCount = Number(values.commands);
const naiveCount = Number(values['naive-commands'] ?? Math.min(commandCount, 5_000));
const customerCount = Number(values.customers);
const rate = Number(values.rate);
const latencySeconds = Number(values.seconds);
/** Commands in each of the creations and updates phases. */
const phaseCount = Number(values['phase-commands'] ?? Math.min(commandCount, 20_000));

useLocalStackWhenUnconfigured({ start: true });
const runId = `bench${Date.now().toString(36)}`;
const config: Config = loadConfig({ ...process.env, PROFILES_ENV: runId, BOARD_DISABLED: 'true', LOG_LEVEL: 'error' });
const logger = makeLogger({ level: process.env['BENCH_LOG_LEVEL'] ?? 'error' });
const kafka = makeKafka({ brokers: config.kafka.brokers, clientId: runId, logger });
const admin = kafka.admin();
await admin.connect();
const producer = makeProducer(kafka);
await producer.connect();
const names = topics(config.env);
const partitions = config.kafka.commandPartitions;
const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function produceAll(topic: string, commands: BenchCommand[], headers: Record<string, string> = {}) {
  for (let start = 0; start < commands.length; start += 2_000) {
    await producer.send({
      topic,
      acks: -1,
      messages: commands.slice(start, start + 2_000).map(({ key, value }) => ({ key, value: JSON.stringify(value), headers: { 'ET-Client-Name': 'bench-runner', ...headers } })),
    });
  }
}

/**
 * Commands per second, from when the system under test first had commands in hand (its first batch)
 * to when its last output was seen. (From its first output instead, a system that answers in a few
 * large batches would not be charged for its first ones.)
 */
const rateOf = (count: number, startedAt: number | null, observer: { lastAt: number | null }) =>
  startedAt !== null && observer.lastAt !== null && observer.lastAt > startedAt ? (count * 1_000) / (observer.lastAt - startedAt) : Number.NaN;

/** Step tracing that only notes when the suite first had commands in hand (its first step's decoding). */
function firstStep(): { tracing: StepTracing; startedAt: () => number | null } {
  let startedAt: number | null = null;
  return {
    tracing: {
      span: (_name, _attributes, run) => {
        startedAt ??= performance.now();
        return run({ link: () => undefined, phase: (_phase, phaseRun) => phaseRun() });
      },
    },
    startedAt: () => startedAt,
  };
}

// ---------------------------------------------------------------- seed: customers to update
const suiteMongo = await connectMongo(config.mongoUri, { dbName: `${runId}_suite`, monitorCommands: true });
const statements = statementCounter(suiteMongo.client);
const seedEnv = loadConfig({ ...process.env, PROFILES_ENV: `${runId}-seed`, BOARD_DISABLED: 'true' });
const seedNames = topics(seedEnv.env);
const seedWorker = await startProfileWorker({ config: seedEnv, kafka, mongo: suiteMongo, logger });
const codec = makeAvroCodec(config.registryUrl);
const customers: string[] = [];
const seedObserver = await observe({
  kafka,
  logger,
  groupId: `${runId}-seed-reader`,
  topics: [seedNames.results],
  onMessage: async (_topic, message) => {
    const { value } = (await codec.decode(message.value!)) as { value: { customerNumber: string | null; commandType: string } };
    if (value.commandType === 'CreateProfile' && value.customerNumber) customers.push(value.customerNumber);
  },
});
const seed: BenchCommand[] = [
  { key: `${runId}-define`, value: { commandId: `${runId}-define`, type: 'DefinePreference', organisationId: benchOrganisation, payload: { key: benchPreference } } },
  ...Array.from({ length: customerCount }, (_, index) => ({
    key: `${runId}-seed-${index}`,
    value: { commandId: `${runId}-seed-${index}`, type: 'CreateProfile', organisationId: benchOrganisation, payload: { createdBy: 'bench', createdByChannel: 'bench', firstName: 'Seed', surname: `S${index}` } },
  })),
];
await produceAll(seedNames.commands, seed);
await progress('seeding customers', () => customers.length >= customerCount, () => `${customers.length}/${customerCount}`, 300_000);
await seedObserver.stop();
await seedWorker.stop();

// The floor with the suite's documents writes copies of the suite's own: a profile as created, a
// result; and the commands naming a customer find copies of the suite's profiles.
const documentsMongo = await connectMongo(config.mongoUri, { dbName: `${runId}_documents` });
const [templateProfile, templateResult] = await Promise.all([suiteMongo.db.collection('profiles').findOne({ version: 1 }), suiteMongo.db.collection('commands').findOne({ result: { $exists: true } })]);
if (!templateProfile || !templateResult) throw new Error('no profile or result of the seeding to copy');
const template = { profile: templateProfile, result: templateResult };
async function copyProfiles(customerNumbers: string[]): Promise<void> {
  const profiles = suiteMongo.db.collection<{ _id: string }>('profiles');
  for (let start = 0; start < customerNumbers.length; start += 1_000) {
    const docs = await profiles.find({ _id: { $in: customerNumbers.slice(start, start + 1_000) } }).toArray();
    if (docs.length > 0) await documentsMongo.db.collection<{ _id: string }>('profiles').insertMany(docs);
  }
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- phases: the floor, then the suite
const floorMongo = await connectMongo(config.mongoUri, { dbName: `${runId}_floor` });
const createdTopics: string[] = [];
type ResultValue = { commandId: string; status: string; version: number | null; message: string | null; commandType: string; customerNumber: string | null };

/**
 * One phase: its commands produced once to a commands topic of their own, consumed by (b) the
 * floor, then (d) the floor with the suite's documents, then (a) the suite (the profile worker,
 * until every result and event is seen).
 */
async function runPhase(
  label: string,
  phaseConfig: Config,
  commands: BenchCommand[],
  options: { onResult?: (value: ResultValue) => void; keepRunning?: boolean; /** The profiles the commands name, copied for the floor with the suite's documents. */ customers?: string[] } = {},
) {
  const phaseNames = topics(phaseConfig.env);
  const floorTopic = `${phaseConfig.env}-floor-out`;
  const documentsTopic = `${phaseConfig.env}-documents-out`;
  await ensureTopics(admin, [
    { topic: phaseNames.commands, numPartitions: partitions },
    { topic: phaseNames.results, numPartitions: partitions },
    { topic: phaseNames.customerChanged(benchOrganisation), numPartitions: config.kafka.eventPartitions },
    { topic: floorTopic, numPartitions: partitions },
    { topic: documentsTopic, numPartitions: partitions },
  ]);
  createdTopics.push(phaseNames.commands, phaseNames.results, phaseNames.dlq, phaseNames.expirations, phaseNames.customerChanged(benchOrganisation), floorTopic, documentsTopic);
  log(`${label}: producing ${commands.length} commands to ${phaseNames.commands}`);
  await produceAll(phaseNames.commands, commands);

  const floorCpu = cpuMeter();
  const floorOut = await observe({ kafka, logger, groupId: `${phaseConfig.env}-floor-reader`, topics: [floorTopic] });
  const floor = await startFloor({ kafka, db: floorMongo.db, input: phaseNames.commands, output: floorTopic, groupId: `${phaseConfig.env}-floor`, logger });
  const floorCount = () => floorOut.counts.get(floorTopic) ?? 0;
  await progress(`${label}, floor`, () => floorCount() >= commands.length, () => `${floorCount()}/${commands.length}`, 1_800_000);
  await floor.stop();
  await floorOut.stop();
  const floorStartedAt = floor.startedAt();
  const floorCpuMs = floorCpu();

  await copyProfiles(options.customers ?? []);
  const documentsCpu = cpuMeter();
  const documentsOut = await observe({ kafka, logger, groupId: `${phaseConfig.env}-documents-reader`, topics: [documentsTopic] });
  const documentsFloor = await startDocumentsFloor({ kafka, mongo: documentsMongo, input: phaseNames.commands, output: documentsTopic, groupId: `${phaseConfig.env}-documents`, logger, partitions, template });
  const documentsCount = () => documentsOut.counts.get(documentsTopic) ?? 0;
  await progress(`${label}, floor with the suite's documents`, () => documentsCount() >= commands.length, () => `${documentsCount()}/${commands.length}`, 1_800_000);
  await documentsFloor.stop();
  await documentsOut.stop();
  const documentsCpuMs = documentsCpu();

  // By commandId: a produce the bench's producer retried can write some commands twice (a request
  // to several partitions that failed on one), and a command seen twice is answered twice.
  const answered = new Set<string>();
  const changed = new Set<string>();
  const suiteOut = await observe({
    kafka,
    logger,
    groupId: `${phaseConfig.env}-suite-reader`,
    topics: [phaseNames.results, phaseNames.customerChanged(benchOrganisation)],
    onMessage: async (topic, message) => {
      if (topic !== phaseNames.results) return;
      const { value } = (await codec.decode(message.value!)) as { value: ResultValue };
      answered.add(value.commandId);
      if (value.status === 'ACCEPTED' && value.version !== null && value.message !== 'no change') changed.add(value.commandId);
      options.onResult?.(value);
    },
  });
  const suiteCpu = cpuMeter();
  statements.start();
  const first = firstStep();
  const worker = await startProfileWorker({ config: phaseConfig, kafka, mongo: suiteMongo, logger, tracing: first.tracing });
  const events = () => suiteOut.counts.get(phaseNames.customerChanged(benchOrganisation)) ?? 0;
  await progress(`${label}, suite`, () => answered.size >= commands.length && events() >= changed.size, () => `${answered.size}/${commands.length} answered, ${events()}/${changed.size} events`, 1_800_000);
  const suiteCpuMs = suiteCpu();
  const byKind = statements.stop(commands.length);
  const mongoPerCommand = { ...totalOf(byKind), byKind };
  log(`${label}, suite: per command ${mongoPerCommand.statements} MongoDB statements, ${mongoPerCommand.documents} documents (${Object.entries(byKind).map(([kind, count]) => `${kind} ${count.statements}/${count.documents}`).join(', ')})`);
  await suiteOut.stop();
  if (!options.keepRunning) await worker.stop();
  const suiteRate = rateOf(commands.length, first.startedAt(), suiteOut);
  const floorRate = rateOf(commands.length, floorStartedAt, floorOut);
  const documentsRate = rateOf(commands.length, documentsFloor.startedAt(), documentsOut);
  const ratio = (rate: number) => `${Math.round(rate)}/s (${(rate / floorRate).toFixed(2)} × floor)`;
  log(`${label}: floor ${Math.round(floorRate)}/s, suite ${ratio(suiteRate)}, floor with the suite's documents ${ratio(documentsRate)}`);
  return {
    label,
    commands: commands.length,
    suite: suiteRate,
    floor: floorRate,
    rejected: commands.length - changed.size,
    cpuMsPerCommand: { suite: perUnit(suiteCpuMs, commands.length), floor: perUnit(floorCpuMs, commands.length), documents: perUnit(documentsCpuMs, commands.length) },
    documents: documentsRate,
    mongoPerCommand,
    worker,
  };
}

// The production-like mix; its suite keeps running for the latency phase.
const mixed = await runPhase('mixed', config, workload({ count: commandCount, customers, runId }), { keepRunning: true, customers });
const suiteWorker = mixed.worker;
const suiteRate = mixed.suite;
const floorRate = mixed.floor;
const rejected = mixed.rejected;

// ---------------------------------------------------------------- latency at a fixed rate
const sentAt = new Map<string, number>();
const latencies: number[] = [];
const latencyOut = await observe({
  kafka,
  logger,
  groupId: `${runId}-latency-reader`,
  topics: [names.customerChanged(benchOrganisation)],
  onMessage: (_topic, message, seenAt) => {
    const correlation = message.headers?.['X-Correlation-Id']?.toString();
    const sent = correlation ? sentAt.get(correlation) : undefined;
    if (sent !== undefined) latencies.push(seenAt - sent);
  },
});
await new Promise((resolve) => setTimeout(resolve, 2_000)); // the reader has caught up with the backlog
const latencyCommands = workload({ count: rate * latencySeconds, customers, runId: `${runId}-lat`, seed: 7 });
log(`latency: ${rate} commands/s for ${latencySeconds} s`);
const tickMs = 10;
const perTick = Math.max(1, Math.round((rate * tickMs) / 1_000));
const started = performance.now();
for (let index = 0; index < latencyCommands.length; index += perTick) {
  const due = started + (index / rate) * 1_000;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const slice = latencyCommands.slice(index, index + perTick);
  const now = performance.now();
  for (const { value } of slice) sentAt.set(String(value['commandId']), now);
  await producer.send({
    topic: names.commands,
    acks: 1,
    messages: slice.map(({ key, value }) => ({ key, value: JSON.stringify(value), headers: { 'ET-Client-Name': 'bench-runner', 'X-Correlation-Id': String(value['commandId']) } })),
  });
}
const achievedRate = (latencyCommands.length * 1_000) / (performance.now() - started);
await progress('latency', () => latencies.length >= latencyCommands.length * 0.99, () => `${latencies.length}/${latencyCommands.length} events`, 120_000);
await latencyOut.stop();
await suiteWorker.stop();
const sortedLatencies = [...latencies].sort((a, b) => a - b);

// ---------------------------------------------------------------- creations, then one update per created customer
const phaseConfig = (name: string) => loadConfig({ ...process.env, PROFILES_ENV: `${runId}-${name}`, BOARD_DISABLED: 'true', LOG_LEVEL: 'error' });
const created: string[] = [];
const creationPhase = await runPhase('creations', phaseConfig('create'), creations({ count: phaseCount, runId: `${runId}-create` }), {
  onResult: (value) => {
    if (value.commandType === 'CreateProfile' && value.status === 'ACCEPTED' && value.customerNumber) created.push(value.customerNumber);
  },
});
const updatePhase = await runPhase('updates', phaseConfig('update'), updates({ customers: created, runId: `${runId}-update` }), { customers: created });

// ---------------------------------------------------------------- (c) naive
const naiveMongo = await connectMongo(config.mongoUri, { dbName: `${runId}_naive` });
await ensureTopics(admin, [{ topic: `${runId}-naive-out`, numPartitions: partitions }]);
const naiveOut = await observe({ kafka, logger, groupId: `${runId}-naive-reader`, topics: [`${runId}-naive-out`] });
const naive = await startNaive({ kafka, db: naiveMongo.db, input: names.commands, output: `${runId}-naive-out`, groupId: `${runId}-naive` });
const naiveCountSeen = () => naiveOut.counts.get(`${runId}-naive-out`) ?? 0;
await progress('naive', () => naiveCountSeen() >= naiveCount, () => `${naiveCountSeen()}/${naiveCount}`, 1_800_000);
const naiveRate = rateOf(naiveCountSeen(), naive.startedAt(), naiveOut);
await naive.stop();
await naiveOut.stop();

// ---------------------------------------------------------------- report
const report = {
  runId,
  at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', memoryGiB: round(os.totalmem() / 2 ** 30), node: process.version },
  stack: 'local (Kafka 4.4 KRaft, Apicurio 3.3, FerretDB 1.24 SQLite, Redis 7)',
  commands: commandCount,
  naiveCommands: naiveCount,
  seededCustomers: customerCount,
  rejected,
  commandsPerSecond: { suite: round(suiteRate), floor: round(floorRate), naive: round(naiveRate) },
  ratios: { suiteToFloor: round(suiteRate / floorRate, 2), suiteToNaive: round(suiteRate / naiveRate, 2) },
  phases: [mixed, creationPhase, updatePhase].map(({ label, commands, suite, floor, documents, cpuMsPerCommand, mongoPerCommand }) => ({
    label,
    commands,
    suite: round(suite),
    floor: round(floor),
    suiteToFloor: round(suite / floor, 2),
    // At most this fast against the floor: the floor with the suite's documents (no decisions, no events).
    documentsFloor: round(documents),
    documentsFloorToFloor: round(documents / floor, 2),
    cpuMsPerCommand,
    mongoPerCommand,
  })),
  latencyMs: {
    rate,
    achievedRate: round(achievedRate),
    samples: sortedLatencies.length,
    p50: round(percentile(sortedLatencies, 50)),
    p95: round(percentile(sortedLatencies, 95)),
    p99: round(percentile(sortedLatencies, 99)),
    max: round(sortedLatencies.at(-1) ?? Number.NaN),
  },
  targets: { suiteToFloor: 0.5, suiteToNaive: 10, p99Ms: 50 },
};
mkdirSync(`${projectRoot}reports`, { recursive: true });
const stamp = report.at.replace(/[:.]/g, '-');
writeFileSync(`${projectRoot}reports/bench-${stamp}.json`, `${JSON.stringify({ ...report, latenciesMs: sortedLatencies.map((value) => round(value, 2)) })}\n`);
writeFileSync(`${projectRoot}reports/bench-latency-${stamp}.svg`, latencyHistogramSvg(sortedLatencies, `Command → event latency at ${rate} commands/s (p99 ${report.latencyMs.p99} ms)`));
writeFileSync(
  `${projectRoot}reports/bench-throughput-${stamp}.svg`,
  throughputChartSvg(
    report.phases.map((phase, index) => ({
      label: `${phase.label} (${phase.commands.toLocaleString('en')})`,
      suite: phase.suite,
      floor: phase.floor,
      documents: phase.documentsFloor,
      ...(index === 0 ? { naive: report.commandsPerSecond.naive } : {}),
    })),
    `Throughput per phase, ${report.at.slice(0, 10)} (${report.machine.cpus} cores, everything on them)`,
  ),
);
log(`report: reports/bench-${stamp}.json, charts: reports/bench-latency-${stamp}.svg, reports/bench-throughput-${stamp}.svg`);

await Promise.all([suiteMongo.db.dropDatabase(), floorMongo.db.dropDatabase(), naiveMongo.db.dropDatabase(), documentsMongo.db.dropDatabase()]);
await Promise.all([suiteMongo.close(), floorMongo.close(), naiveMongo.close(), documentsMongo.close()]);
await producer.disconnect();
await admin.deleteTopics({ topics: [...createdTopics, `${runId}-naive-out`, seedNames.commands, seedNames.results, seedNames.dlq, seedNames.expirations, seedNames.customerChanged(benchOrganisation)] }).catch(() => undefined);
await admin.disconnect();
console.log(JSON.stringify(report));
process.exit(0);
