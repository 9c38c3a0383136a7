// Fault injection: a stream of 20,000 commands (FAULTS_COMMANDS to change) — a production-like mix
// with temporary profiles and deactivations falling due during the run, and merges — through
// suite processes (`node app/main.ts`, FAULTS_WORKERS of them, default 2) that are killed with
// SIGKILL ten times at random moments and started again; Kafka is restarted once, Redis flushed
// once (FLUSHALL) and the MongoDB server restarted once, all during the stream. Then everything is
// checked from the outside (Kafka topics read from the beginning with a fresh group, and MongoDB).
//
// The services must be a stack run by scripts/stack.sh (it restarts them): the project's own
// (.stack, started by globalSetup when no service variables are set) or another one named by
// STACK_DIR together with the four service variables.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { makeAvroCodec } from '../../shared/avro.ts';
import { ensureTopics, makeKafka, makeProducer, runConsumer, type KafkaMessage } from '../../shared/kafka.ts';
import { connectMongo, type Mongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';
import { projectRoot } from '../../scripts/stackEnv.ts';
import type { CommandResult, CustomerChanged } from '../../workers/profile/model.ts';
import { reservationKey } from '../../workers/profile/store.ts';
// mulberry32: a seed reproduces the workload and the fault schedule (not the timing).
import { prng } from '../../scripts/bench/workload.ts';
import { randomName, testLogger, waitFor } from '../helpers/services.ts';
import { freePort, SuiteProcess, withDatabase } from '../helpers/suiteProcess.ts';
import { readToEnd } from '../helpers/topicReader.ts';
import { makeClaimKey } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import { makeOutboxStore, owedOf } from '../../shared/outbox.ts';
import { developmentClaimKeySecret } from '../../shared/config.ts';

const total = Number(process.env['FAULTS_COMMANDS'] ?? 20_000);
const processCount = Number(process.env['FAULTS_WORKERS'] ?? 2);
const killCount = 10;
const seed = Number(process.env['FAULTS_SEED'] ?? Date.now() % 2 ** 31);
/** Commands sent but not answered yet, at most: keeps the faults spread over the processing. */
const window = Number(process.env['FAULTS_WINDOW'] ?? 400);
/** "Soon" expiration dates are this many seconds ahead (uniform), so they fall due during the run. */
const soonSeconds = [15, 150] as const;
const organisations = [1, 2];

const exec = promisify(execFile);
const log = (message: string) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${message}`);

type Customer = {
  organisationId: number;
  customerNumber: string;
  kind: 'S' | 'T' | 'D' | 'gone';
  /** A command that changes its kind is in flight: nothing else is sent for it until answered. */
  busy: boolean;
  dueAt: number | null;
  accounts: string[];
  preferences: Set<string>;
};

/**
 * What a command's answer must be, whatever crashed in between: a problem, or null. `explains`: a
 * rejection it expects needs no other reason from the run.
 */
type Expectation = { check: (result: CommandResult) => string | null; explains?: (result: CommandResult) => boolean };
type Sent = { command: Record<string, unknown>; key: string; sentAt: number; onResult?: (result: CommandResult) => void; expect?: Expectation };

describe(`fault injection: ${total} commands, ${killCount} SIGKILLs, Kafka and MongoDB restarted, Redis flushed`, () => {
  const services = inject('services');
  const env = randomName('faults');
  const database = randomName('faults').replace('-', '_');
  const logDir = join(tmpdir(), `faults-${env}`);
  const processes: SuiteProcess[] = [];
  let mongo: Mongo | undefined;
  afterAll(async () => {
    for (const suite of processes) await suite.stop();
    if (mongo && !process.env['FAULTS_KEEP']) await mongo.db.dropDatabase().catch(() => undefined);
    await mongo?.close();
  });

  it('every command has one effect and its result, every change its event in order, due expirations erased', async () => {
    const started = Date.now();
    const random = prng(seed);
    const logger = testLogger();
    const names = topics(env);
    log(`seed ${seed}, env ${env}, database ${database}, logs ${logDir}`);

    // The stack restarts go through scripts/stack.sh, which only restarts what it started itself.
    const stackEnv = { ...(process.env as Record<string, string>), ...services };
    const stackDir = process.env['STACK_DIR'] ?? join(projectRoot, '.stack');
    const pidOf = (service: string) => {
      try {
        return readFileSync(join(stackDir, 'run', `${service}.pid`), 'utf8').trim();
      } catch {
        return null;
      }
    };
    for (const service of ['kafka', 'mongodb']) {
      if (!pidOf(service)) throw new Error(`the ${service} of ${JSON.stringify(services)} was not started by scripts/stack.sh in ${stackDir} (set STACK_DIR): it cannot be restarted`);
    }
    const restartService = async (service: 'kafka' | 'mongodb') => {
      const before = pidOf(service);
      const at = Date.now();
      await exec('bash', ['scripts/stack.sh', 'restart', service], { cwd: projectRoot, env: stackEnv });
      const after = pidOf(service);
      if (!after || after === before) throw new Error(`${service} was not restarted (pid ${before} → ${after})`);
      log(`${service} restarted (pid ${before} → ${after}) in ${Date.now() - at} ms`);
    };
    const flushRedis = async () => {
      const redis = new Redis(services.REDIS_URL, { maxRetriesPerRequest: 3 });
      await redis.flushall();
      redis.disconnect();
      log('redis: FLUSHALL');
    };

    // ----- topics first (so the readers can subscribe), then the suite processes
    const kafka = makeKafka({ brokers: services.KAFKA_BROKERS.split(','), clientId: randomName('faults-client'), logger });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: names.commands, numPartitions: 6 },
      { topic: names.results, numPartitions: 6 },
      { topic: names.dlq, numPartitions: 1 },
      { topic: names.expirations, numPartitions: 6 },
      ...organisations.map((organisationId) => ({ topic: names.customerChanged(organisationId), numPartitions: 3 })),
    ]);
    await admin.disconnect();
    mongo = await connectMongo(withDatabase(services.MONGODB_URI, database));
    // The suite processes' claim keys (their CLAIM_KEY_SECRET: the stack's, yours, or the development one).
    const claimKey = makeClaimKey((services as Record<string, string | undefined>)['CLAIM_KEY_SECRET'] || process.env['CLAIM_KEY_SECRET'] || developmentClaimKeySecret);
    const workerEnv = {
      ...services,
      MONGODB_URI: withDatabase(services.MONGODB_URI, database),
      PROFILES_ENV: env,
      COMMAND_PARTITIONS: '6',
      EVENT_PARTITIONS: '3',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      RECONCILE_INTERVAL_MS: '5000',
      EXPIRATION_HORIZON_MS: '60000',
      ERASURE_LOCK_MS: '5000',
      BOARD_DISABLED: 'true',
      LOG_LEVEL: 'warn',
    };
    for (let index = 0; index < processCount; index++) {
      processes.push(new SuiteProcess({ name: `suite-${index}`, port: await freePort(), logDir, env: { ...workerEnv, KAFKA_CLIENT_ID: `faults-suite-${index}` } }));
    }
    for (const suite of processes) suite.start();
    for (const suite of processes) await suite.waitReady();
    log(`${processCount} suite processes ready`);
    // A process that dies on its own (not killed by the test) is started again, as a supervisor
    // would, and reported.
    const supervise = () => {
      for (const suite of processes) {
        if (!suite.alive && suite.exits.at(-1)?.expected === false) {
          const { code, signal, tail } = suite.exits.at(-1)!;
          log(`${suite.name} exited on its own (code ${code}, signal ${signal}; last output: ${tail.slice(-300)}): starting it again`);
          suite.start();
        }
      }
    };

    // ----- the live reader: results, to learn customer numbers and to pace the stream
    const codec = makeAvroCodec(services.SCHEMA_REGISTRY_URL);
    const sent = new Map<string, Sent>();
    const answered = new Map<string, CommandResult>();
    const onResult = (result: CommandResult) => {
      if (answered.has(result.commandId)) return;
      const entry = sent.get(result.commandId);
      if (!entry) return;
      answered.set(result.commandId, result);
      entry.onResult?.(result);
    };
    // The suite's own consumer loop: it survives the Kafka restart (a bare KafkaJS consumer can stop
    // for good on it, and the test would wait for answers it no longer reads).
    const reader = await runConsumer({
      kafka,
      groupId: randomName('faults-live'),
      topics: [names.results],
      logger,
      fromBeginning: true,
      sessionTimeout: 10_000,
      partitionsConsumedConcurrently: 6,
      handleBatch: async (batch) => {
        for (const message of batch.messages) onResult((await codec.decode(message.value!)).value as CommandResult);
      },
    });

    // ----- the workload
    const customers: Customer[] = [];
    let sequence = 0;
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    const soon = () => Date.now() + (soonSeconds[0] + random() * (soonSeconds[1] - soonSeconds[0])) * 1000;
    const later = () => Date.now() + 30 * 86_400_000;
    const actor = { changedBy: 'faults', changedByChannel: 'test' };
    const creator = { createdBy: 'faults', createdByChannel: 'test' };
    /** A customer of that kind with no change of kind in flight and not about to be erased. */
    const target = (kind: Customer['kind']) => {
      for (let attempt = 0; attempt < 30 && customers.length > 0; attempt++) {
        const customer = pick(customers);
        if (customer.kind === kind && !customer.busy && (customer.dueAt === null || customer.dueAt > Date.now() + 20_000)) return customer;
      }
      return undefined;
    };
    const outbox: Sent[] = [];
    const add = (command: Record<string, unknown>, onAnswer?: (result: CommandResult) => void, expectation?: Expectation) => {
      const key = command['customerNumber'] ? `${String(command['organisationId'])}:${String(command['customerNumber'])}` : String(command['commandId']);
      const entry: Sent = { command, key, sentAt: 0, ...(onAnswer ? { onResult: onAnswer } : {}), ...(expectation ? { expect: expectation } : {}) };
      sent.set(String(command['commandId']), entry);
      outbox.push(entry);
    };
    const on = (customer: Customer, type: string, payload: Record<string, unknown>, commandId: string) => ({
      commandId,
      type,
      organisationId: customer.organisationId,
      customerNumber: customer.customerNumber,
      payload,
    });
    const settle = (customer: Customer, change?: (result: CommandResult) => void) => (result: CommandResult) => {
      customer.busy = false;
      if (result.status === 'ACCEPTED') change?.(result);
      else if (result.code === 'CUSTOMER_NOT_FOUND') customer.kind = 'gone';
    };
    const nextCommand = () => {
      const commandId = `${env}-${sequence++}`;
      const organisationId = pick(organisations);
      const roll = random();
      if (roll < 0.22) {
        const customer = target('S');
        if (customer) {
          const email = random() < 0.2 ? { email: `${commandId}@faults.example` } : {};
          add(on(customer, 'UpdateProfile', { ...actor, surname: `S-${sequence}`, ...email }, commandId));
          return;
        }
      } else if (roll < 0.31) {
        const customer = target('S');
        if (customer) {
          if (customer.preferences.size > 0 && random() < 0.3) {
            const key = pick([...customer.preferences]);
            customer.preferences.delete(key);
            add(on(customer, 'RemovePreference', { key }, commandId));
          } else {
            const key = random() < 0.5 ? 'seat' : 'note';
            customer.preferences.add(key);
            add(on(customer, 'SetPreference', { key, value: key === 'seat' ? pick(['window', 'aisle']) : `n-${sequence}` }, commandId));
          }
          return;
        }
      } else if (roll < 0.38) {
        const customer = target('S');
        if (customer) {
          if (customer.accounts.length > 0 && random() < 0.3) {
            add(on(customer, 'RemoveCustomerAccount', { customerAccountId: customer.accounts.pop()!, ...actor }, commandId));
          } else {
            const account = `acc-${commandId}`;
            customer.accounts.push(account);
            add(on(customer, 'AddCustomerAccount', { customerAccountId: account }, commandId));
          }
          return;
        }
      } else if (roll < 0.5) {
        const dueAt = random() < 0.6 ? soon() : later();
        add({ commandId, type: 'CreateTemporaryProfile', organisationId, payload: { ...creator, expirationDate: new Date(dueAt).toISOString(), firstName: 'Temp' } }, (result) => {
          if (result.status === 'ACCEPTED') customers.push({ organisationId, customerNumber: result.customerNumber!, kind: 'T', busy: false, dueAt, accounts: [], preferences: new Set() });
        });
        return;
      } else if (roll < 0.54) {
        const customer = target('T');
        if (customer) {
          const dueAt = random() < 0.5 ? soon() : later();
          customer.busy = true;
          add(on(customer, 'UpdateTemporaryProfile', { ...actor, expirationDate: new Date(dueAt).toISOString(), firstName: `T-${sequence}` }, commandId), settle(customer, () => (customer.dueAt = dueAt)));
          return;
        }
      } else if (roll < 0.57) {
        const customer = target('T');
        if (customer) {
          customer.busy = true;
          add(on(customer, 'ConvertToPermanent', { ...actor, firstName: 'Conv', surname: `C-${sequence}` }, commandId), settle(customer, () => Object.assign(customer, { kind: 'S', dueAt: null })));
          return;
        }
      } else if (roll < 0.6) {
        const temporary = target('T');
        const permanent = temporary && customers.find((other) => other.organisationId === temporary.organisationId && other.kind === 'S' && !other.busy && random() < 0.05);
        if (temporary && permanent) {
          temporary.busy = true;
          permanent.busy = true;
          add(on(temporary, 'MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent.customerNumber }, commandId), (result) => {
            permanent.busy = false;
            settle(temporary, () => (temporary.kind = 'gone'))(result);
          });
          return;
        }
      } else if (roll < 0.64) {
        const customer = target('S');
        if (customer) {
          const dueAt = random() < 0.7 ? soon() : later();
          customer.busy = true;
          add(on(customer, 'DeactivateCustomer', { ...actor, expirationDate: new Date(dueAt).toISOString() }, commandId), settle(customer, () => Object.assign(customer, { kind: 'D', dueAt })));
          return;
        }
      } else if (roll < 0.66) {
        const customer = target('D');
        if (customer) {
          customer.busy = true;
          add(on(customer, 'RestoreCustomer', { ...actor }, commandId), settle(customer, () => Object.assign(customer, { kind: 'S', dueAt: null })));
          return;
        }
      } else if (roll < 0.665) {
        add({ commandId, type: 'DefinePreference', organisationId, payload: { key: 'note', description: `free text ${sequence}` } });
        return;
      } else if (roll < 0.68) {
        // Same key, back to back: a change, the same change again (no change), another change. The
        // middle one must stay "no change" whatever crashes: decided again after the last, it would
        // change the surname back (per-key order).
        const customer = target('S');
        if (customer) {
          const surname = `P-${sequence}`;
          add(on(customer, 'UpdateProfile', { ...actor, surname }, commandId));
          add(on(customer, 'UpdateProfile', { ...actor, surname }, `${env}-${sequence++}`), undefined, {
            check: (result) => (result.status === 'ACCEPTED' && result.message !== 'no change' ? `the repeated change was applied (version ${result.version})` : null),
          });
          add(on(customer, 'UpdateProfile', { ...actor, surname: `${surname}-next` }, `${env}-${sequence++}`));
          return;
        }
      } else if (roll < 0.69) {
        // Same key, back to back on a deactivated customer: an update (refused), then a restore. The
        // update must stay refused whatever crashes: decided again after the restore, it is accepted.
        const customer = target('D');
        if (customer) {
          customer.busy = true;
          add(on(customer, 'UpdateProfile', { ...actor, surname: `R-${sequence}` }, commandId), undefined, {
            check: (result) => (result.status === 'ACCEPTED' ? `an update sent before the restore was accepted (version ${result.version})` : null),
            explains: (result) => result.code === 'CUSTOMER_DEACTIVATED',
          });
          add(on(customer, 'RestoreCustomer', { ...actor }, `${env}-${sequence++}`), settle(customer, () => Object.assign(customer, { kind: 'S', dueAt: null })));
          return;
        }
      }
      add({ commandId, type: 'CreateProfile', organisationId, payload: { ...creator, firstName: 'Kari', surname: `N-${sequence}`, email: `${commandId}@faults.example` } }, (result) => {
        if (result.status === 'ACCEPTED') customers.push({ organisationId, customerNumber: result.customerNumber!, kind: 'S', busy: false, dueAt: null, accounts: [], preferences: new Set() });
      });
    };
    // The preferences the workload sets, defined (and answered) before the stream starts.
    const definitions = organisations.flatMap((organisationId) => [
      { commandId: `${env}-seat-${organisationId}`, type: 'DefinePreference', organisationId, payload: { key: 'seat', allowedValues: ['window', 'aisle'] } },
      { commandId: `${env}-note-${organisationId}`, type: 'DefinePreference', organisationId, payload: { key: 'note' } },
    ]);

    // ----- the fault schedule: moments as fractions of the stream sent
    type Fault = { at: number; name: string; run: () => Promise<void> };
    const kill = async () => {
      const all = random() < 0.2;
      const victims = all ? processes : [pick(processes)];
      log(`kill -9 ${victims.map((suite) => `${suite.name} (pid ${suite.pid})`).join(', ')} at ${sent.size} sent, ${answered.size} answered`);
      for (const suite of victims) await suite.restart();
    };
    const faults: Fault[] = [
      ...Array.from({ length: killCount }, () => ({ at: 0.03 + random() * 0.92, name: 'kill', run: kill })),
      { at: 0.15 + random() * 0.2, name: 'kafka restart', run: () => restartService('kafka') },
      { at: 0.4 + random() * 0.2, name: 'redis FLUSHALL', run: flushRedis },
      { at: 0.65 + random() * 0.2, name: 'mongodb restart', run: () => restartService('mongodb') },
    ].sort((a, b) => a.at - b.at);
    log(`fault schedule: ${faults.map((fault) => `${fault.name}@${Math.round(fault.at * total)}`).join(', ')}`);
    // Kills are quick and happen in the driver; service restarts run beside the stream (one at a time).
    let serviceFault: Promise<void> = Promise.resolve();
    const faultErrors: Error[] = [];

    // ----- the stream
    const producer = makeProducer(kafka);
    await producer.connect();
    const sendBatch = async (batch: Sent[]) => {
      // At least once: during the Kafka restart a send fails and is repeated; a command that was
      // written anyway is then there twice, which the suite answers as a re-sent command.
      const deadline = Date.now() + 180_000;
      for (;;) {
        try {
          await producer.send({
            topic: names.commands,
            acks: -1,
            messages: batch.map((entry) => ({ key: entry.key, value: JSON.stringify(entry.command), headers: { 'ET-Client-Name': 'acme-ticketshop' } })),
          });
          const now = Date.now();
          for (const entry of batch) entry.sentAt = now;
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500)); // back-off while Kafka is away
        }
      }
    };
    for (const command of definitions) add(command);
    await sendBatch(outbox.splice(0));
    await waitFor('the preference definitions answered', () => answered.size === definitions.length || undefined, { timeoutMs: 60_000 });
    let nextFault = 0;
    const streamTimeoutMs = Math.max(900_000, total * 150);
    while (sequence < total - definitions.length) {
      await waitFor('room in the window', () => {
        supervise();
        return sent.size - answered.size < window || undefined;
      }, { timeoutMs: 300_000, intervalMs: 20 }).catch((error: Error) => {
        throw new Error(`${error.message}: ${sent.size} sent, ${answered.size} answered (logs: ${logDir})`);
      });
      if (Date.now() - started > streamTimeoutMs) throw new Error(`stream took longer than ${streamTimeoutMs} ms`);
      const room = Math.min(100, window - (sent.size - answered.size), total - definitions.length - sequence);
      for (let index = 0; index < room; index++) nextCommand();
      await sendBatch(outbox.splice(0));
      while (nextFault < faults.length && sent.size >= faults[nextFault]!.at * total) {
        const fault = faults[nextFault++]!;
        if (fault.name === 'kill') await fault.run();
        else serviceFault = serviceFault.then(fault.run).catch((error: Error) => void faultErrors.push(error));
      }
      if (sent.size % 1000 < 100) log(`${sent.size} sent, ${answered.size} answered`);
    }
    await producer.disconnect();
    log(`all ${sent.size} sent; waiting for every result`);
    await waitFor('a result for every command', () => {
      supervise();
      return answered.size === sent.size || undefined;
    }, { timeoutMs: 600_000, intervalMs: 200 }).catch((error: Error) => {
      const missing = [...sent.keys()].filter((id) => !answered.has(id));
      throw new Error(`${error.message}: ${missing.length} unanswered, e.g. ${JSON.stringify(missing.slice(0, 5).map((id) => sent.get(id)!.command))} (logs: ${logDir})`);
    });
    await serviceFault;
    const streamEnd = Date.now();
    log(`every command answered after ${Math.round((streamEnd - started) / 1000)} s`);
    expect(faultErrors.map((error) => error.message)).toEqual([]);
    expect(nextFault).toBe(faults.length);

    // ----- reading everything from the outside
    const eventTopics = organisations.map((organisationId) => names.customerChanged(organisationId));
    const readEvents = async () => {
      const read = await readToEnd(kafka, eventTopics, { timeoutMs: 300_000 });
      const events: { event: CustomerChanged; partition: number }[] = [];
      for (const { message, partition } of read) events.push({ event: (await codec.decode(message.value!)).value as CustomerChanged, partition });
      return events;
    };
    /** Per customer, the events in arrival order, and the last state before any DELETED. */
    const byCustomer = (events: { event: CustomerChanged }[]) => {
      const map = new Map<string, CustomerChanged[]>();
      for (const { event } of events) {
        const key = `${event.organisationId}:${event.customerNumber}`;
        (map.get(key) ?? map.set(key, []).get(key)!).push(event);
      }
      return map;
    };
    const lastState = (list: CustomerChanged[]) => [...list].filter((event) => event.eventType !== 'DELETED').sort((a, b) => a.version - b.version).at(-1);
    const dueBy = (list: CustomerChanged[], cutoff: number) => {
      const state = lastState(list)?.profile;
      if (!state?.expirationDate || !(state.profileType === 'T' || state.status === 'D')) return null;
      const due = Date.parse(state.expirationDate);
      return due <= cutoff ? due : null;
    };
    // Expirations that fell due during the run: wait (poll) until each has its DELETED event and
    // nothing is left to relay in MongoDB.
    /** Changes written and not relayed: profiles holding an entry whose result is not stored (see shared/outbox.ts). */
    const owed = async () => {
      const docs = await mongo!.db.collection<ProfileDoc>('profiles').find({}, { projection: { organisationId: 1, pending: 1 } }).toArray();
      const outbox = makeOutboxStore(mongo!);
      const owing: ProfileDoc[] = [];
      for (let start = 0; start < docs.length; start += 1_000) {
        const chunk = docs.slice(start, start + 1_000);
        const relayed = await outbox.relayedOf(chunk);
        owing.push(...chunk.map((doc) => owedOf(doc, relayed)).filter((doc) => doc.pending.length > 0));
      }
      return { profiles: owing.length, entries: owing.reduce((sum, doc) => sum + doc.pending.length, 0), owing: owing.map((doc) => `${doc.organisationId}:${doc._id}`) };
    };
    const cutoff = Date.now();
    let events = await readEvents();
    await waitFor('every due expiration erased and nothing left to relay', async () => {
      supervise();
      events = await readEvents();
      const waiting = [...byCustomer(events).values()].filter((list) => dueBy(list, cutoff) !== null && !list.some((event) => event.eventType === 'DELETED'));
      const unrelayed = await owed();
      log(`${waiting.length} due erasures outstanding, ${unrelayed.profiles} profiles owing ${unrelayed.entries} entries`);
      return (waiting.length === 0 && unrelayed.profiles === 0) || undefined;
    }, { timeoutMs: 300_000, intervalMs: 5_000 });
    for (const suite of processes) await suite.stop();
    const quiet = Date.now();
    events = await readEvents();
    const resultsRead = await readToEnd(kafka, [names.results], { timeoutMs: 300_000 });
    const results: CommandResult[] = [];
    for (const { message } of resultsRead) results.push((await codec.decode(message.value!)).value as CommandResult);
    const dlq: KafkaMessage[] = (await readToEnd(kafka, [names.dlq])).map(({ message }) => message);
    const profiles = new Map((await mongo.db.collection('profiles').find({}).toArray()).map((doc) => [String(doc['_id']), doc]));
    const receipts = new Map((await mongo.db.collection('erasureReceipts').find({}).toArray()).map((doc) => [String(doc['_id']), doc]));
    log(`read ${results.length} results, ${events.length} events, ${dlq.length} DLQ records, ${profiles.size} profiles, ${receipts.size} erasure receipts`);

    // ----- the checks; each collects its findings, all are printed, then asserted
    const findings: Record<string, string[]> = {};
    const finding = (kind: string, text: string) => (findings[kind] ??= []).push(text);

    // Results. docs/commands.md: "Every command consumed gets exactly one result … a redelivered or re-sent
    // command gets the same result again and has no second effect", and results go out in an
    // at-least-once produce (a crash after the produce, before the offset commit, redelivers the
    // batch: the existing SIGKILL test expects the result twice). So the honest contract is: one
    // distinct result per command (distinct commandIds == commands sent), where every repeat is
    // identical to the first; repeats are counted and reported, not failed.
    const resultsById = new Map<string, CommandResult[]>();
    for (const result of results) (resultsById.get(result.commandId) ?? resultsById.set(result.commandId, []).get(result.commandId)!).push(result);
    let repeatedResults = 0;
    for (const [commandId, list] of resultsById) {
      if (!sent.has(commandId)) finding('result for a command never sent', commandId);
      repeatedResults += list.length - 1;
      const first = JSON.stringify(list[0]);
      for (const other of list.slice(1)) if (JSON.stringify(other) !== first) finding('a repeated result differs from the first', `${first} vs ${JSON.stringify(other)}`);
    }
    for (const commandId of sent.keys()) if (!resultsById.has(commandId)) finding('command without a result', commandId);

    // Events: deduplicated on eventId (delivery is at least once); a repeat must be the same event.
    const eventsById = new Map<string, CustomerChanged>();
    let repeatedEvents = 0;
    for (const { event } of events) {
      const known = eventsById.get(event.eventId);
      if (!known) eventsById.set(event.eventId, event);
      else {
        repeatedEvents++;
        const same = (e: CustomerChanged) => JSON.stringify([e.eventType, e.version, e.commandId, e.customerNumber, e.reason, e.profile?.surname, e.profile?.status]);
        if (same(known) !== same(event)) finding('two different events with one eventId', `${JSON.stringify(known)} vs ${JSON.stringify(event)}`);
      }
    }
    // Per customer: first arrivals in version order 1, 2, 3, … without gaps; nothing after DELETED.
    const customersSeen = byCustomer([...eventsById.values()].map((event) => ({ event })));
    const arrivals = byCustomer(events);
    for (const [customer, list] of arrivals) {
      const seen = new Set<string>();
      const firsts = list.filter((event) => !seen.has(event.eventId) && seen.add(event.eventId));
      const versions = firsts.map((event) => event.version);
      if (versions.some((version, index) => version !== index + 1)) finding('event versions out of order or with gaps', `${customer}: ${versions.join(',')}`);
      const deleted = firsts.findIndex((event) => event.eventType === 'DELETED');
      if (deleted >= 0 && deleted !== firsts.length - 1) finding('events after DELETED', `${customer}: ${firsts.map((event) => event.eventType).join(',')}`);
      if (firsts[0]?.eventType !== 'CREATED') finding('first event not CREATED', `${customer}: ${firsts[0]?.eventType}`);
    }

    // Effects: each accepted command has exactly its event(s) — one, two for a merge (MERGED on the
    // permanent profile, DELETED on the temporary), none for a definition or a change that changed
    // nothing ("no change") — with the result's version; a rejected command has none.
    const eventsByCommand = new Map<string, CustomerChanged[]>();
    for (const event of eventsById.values()) {
      if (event.eventType === 'DELETED' && event.reason !== 'MERGED') continue; // erasures: no command
      if (!event.commandId) {
        finding('event without commandId', JSON.stringify(event));
        continue;
      }
      (eventsByCommand.get(event.commandId) ?? eventsByCommand.set(event.commandId, []).get(event.commandId)!).push(event);
    }
    const codes = new Map<string, number>();
    for (const [commandId, { command, expect: expectation }] of sent) {
      const result = resultsById.get(commandId)?.[0];
      if (!result) continue;
      if (expectation) {
        const problem = expectation.check(result);
        if (problem) finding('an answer decided again after a later command of its key (per-key order)', `${commandId} ${String(command['type'])} on ${String(command['customerNumber'])}: ${problem}`);
        if (result.status === 'REJECTED' && expectation.explains?.(result)) continue;
      }
      const own = eventsByCommand.get(commandId) ?? [];
      const type = String(command['type']);
      codes.set(`${type} ${result.status}${result.code ? ` ${result.code}` : ''}`, (codes.get(`${type} ${result.status}${result.code ? ` ${result.code}` : ''}`) ?? 0) + 1);
      if (result.status === 'REJECTED') {
        if (own.length > 0) finding('events of a rejected command', `${commandId}: ${own.map((event) => event.eventId).join(',')}`);
        // Every rejection must have a reason in the run itself; the workload sends valid commands only.
        const customerEvents = customersSeen.get(`${String(command['organisationId'])}:${String(command['customerNumber'])}`) ?? [];
        const expiration = (command['payload'] as { expirationDate?: string }).expirationDate;
        const explained =
          (result.code === 'CUSTOMER_NOT_FOUND' && customerEvents.some((event) => event.eventType === 'DELETED')) ||
          (result.code === 'EXPIRATION_IN_PAST' && expiration !== undefined && Date.parse(result.processedAt) >= Date.parse(expiration));
        if (explained) continue;
        const email = (command['payload'] as { email?: string }).email;
        if (result.code === 'EMAIL_TAKEN' && email) {
          // Every address of the workload is `<commandId>@faults.example`, used by this command only:
          // EMAIL_TAKEN can only be the command's own claim. Evidence from MongoDB.
          const org = Number(command['organisationId']);
          const claim = await mongo.db.collection('emailClaims').findOne({ _id: claimKey(org, email.toLowerCase()) as never });
          const reservation = await mongo.db.collection('commands').findOne({ _id: reservationKey(`${org}:${commandId}`) as never });
          const owner = claim ? String(claim['customerNumber']) : null;
          finding('EMAIL_TAKEN by the command\'s own claim (an address no other command used)',
            `${commandId} ${String(command['type'])}${command['customerNumber'] ? ` on ${String(command['customerNumber'])}` : ''}: claim owner ${owner} (taken ${claim?.['at'] instanceof Date ? claim['at'].toISOString() : 'n/a'}), command's reserved number ${String(reservation?.['customerNumber'] ?? null)}, profile ${owner} ${owner && profiles.has(owner) ? 'exists' : 'does not exist'}; result at ${result.processedAt}; repeated results ${resultsById.get(commandId)!.length - 1}`);
          continue;
        }
        finding('rejection without a reason in the run', `${JSON.stringify(command)} → ${result.code}: ${result.message}`);
        continue;
      }
      const expected = type === 'DefinePreference' || result.message === 'no change' ? 0 : type === 'MergeTemporaryProfile' ? 2 : 1;
      if (own.length !== expected) {
        finding(own.length > expected ? 'duplicate effect (more events than the command has)' : 'lost effect (an accepted change without its event)', `${commandId} ${type} → ${own.map((event) => `${event.customerNumber}@${event.version} ${event.eventType}`).join(', ') || 'no event'} (result version ${result.version})`);
      }
      if (expected === 1 && own[0] && (own[0].version !== result.version || own[0].customerNumber !== result.customerNumber)) {
        finding('event and result disagree', `${commandId}: event ${own[0].customerNumber}@${own[0].version}, result ${result.customerNumber}@${result.version}`);
      }
    }
    for (const commandId of eventsByCommand.keys()) if (!sent.has(commandId)) finding('event of a command never sent', commandId);

    // Nothing owed: no profile holds an entry whose result is not stored (all went out).
    const left = await owed();
    for (const customer of left.owing) finding('changes written and never relayed (a profile owing an entry)', customer);

    // MongoDB against the events: a profile exists exactly for each customer whose last event is
    // not DELETED, at that event's version and with its content (no change without its event).
    for (const [customer, list] of customersSeen) {
      const last = [...list].sort((a, b) => a.version - b.version).at(-1)!;
      const doc = profiles.get(last.customerNumber);
      if (last.eventType === 'DELETED') {
        if (doc) finding('profile left after DELETED', customer);
        continue;
      }
      if (!doc) {
        finding('profile missing (last event not DELETED)', `${customer} last ${last.eventType}@${last.version}`);
        continue;
      }
      if (doc['version'] !== last.version) finding('profile version differs from its last event', `${customer}: MongoDB ${String(doc['version'])}, last event ${last.version}`);
      for (const field of ['surname', 'firstName', 'email', 'status', 'profileType', 'expirationDate'] as const) {
        if ((doc[field] ?? null) !== (last.profile?.[field] ?? null)) finding('profile content differs from its last event', `${customer}.${field}: MongoDB ${String(doc[field])}, event ${String(last.profile?.[field])}`);
      }
    }
    for (const [customerNumber, doc] of profiles) {
      if (!customersSeen.has(`${String(doc['organisationId'])}:${customerNumber}`)) finding('profile without any event', customerNumber);
    }

    // Expirations: everything due by the end of the stream erased (DELETED with the right reason,
    // no profile, a completed receipt); nothing erased before its date.
    let dueErased = 0;
    for (const [customer, list] of customersSeen) {
      const state = lastState(list)?.profile;
      const deleted = list.find((event) => event.eventType === 'DELETED');
      const due = dueBy(list, cutoff);
      if (due !== null && deleted?.reason !== 'MERGED') {
        const reason = state!.status === 'D' ? 'DEACTIVATION_EXPIRED' : 'EXPIRED';
        if (!deleted) finding('due expiration not erased', `${customer} due ${new Date(due).toISOString()}`);
        else if (deleted.reason !== reason) finding('erased with the wrong reason', `${customer}: ${deleted.reason}, expected ${reason}`);
        else if (receipts.get(customer)?.['completedAt'] == null) finding('erasure without a completed receipt', customer);
        else dueErased++;
      }
      if (deleted && deleted.reason !== 'MERGED') {
        const expiration = state?.expirationDate ? Date.parse(state.expirationDate) : null;
        if (expiration === null || Date.parse(deleted.occurredAt) < expiration) finding('erased before its date', `${customer}: erased ${deleted.occurredAt}, due ${state?.expirationDate}`);
      }
    }

    // The DLQ: the workload is valid commands only.
    for (const message of dlq) finding('valid command in the DLQ', `${message.key?.toString()}: ${message.value?.toString().slice(0, 200)}`);

    // Processes: every exit was one of the test's kills — except that docs/operations.md documents that the
    // suite stops ("could not start", exit 1) when a service is away while it starts, which a kill
    // during the MongoDB or Kafka restart provokes; those are counted, and it was started again.
    let exitsAtStart = 0;
    for (const suite of processes) {
      for (const exit of suite.unexpectedExits) {
        if (exit.code === 1 && exit.tail.includes('"msg":"could not start"')) exitsAtStart++;
        else finding('suite process exited on its own', `${suite.name}: code ${exit.code}, signal ${exit.signal}, last output ${exit.tail.slice(-1_000)} (log ${suite.logFile})`);
      }
    }

    const summary = {
      seed,
      commands: sent.size,
      results: results.length,
      repeatedResults,
      events: events.length,
      distinctEvents: eventsById.size,
      repeatedEvents,
      customers: customersSeen.size,
      profilesInMongo: profiles.size,
      dueErasuresVerified: dueErased,
      erasureReceipts: receipts.size,
      dlq: dlq.length,
      exitsAtStartWhileAServiceWasAway: exitsAtStart,
      kills: processes.reduce((sum, suite) => sum + suite.exits.filter((exit) => exit.expected && exit.signal === 'SIGKILL').length, 0),
      outcomes: Object.fromEntries([...codes].sort()),
      streamSeconds: Math.round((streamEnd - started) / 1000),
      totalSeconds: Math.round((quiet - started) / 1000),
      logs: logDir,
      findings: Object.fromEntries(Object.entries(findings).map(([kind, list]) => [kind, { count: list.length, examples: list.slice(0, 5) }])),
    };
    log(`summary: ${JSON.stringify(summary, null, 2)}`);
    expect(summary.findings).toEqual({});
    expect(summary.kills).toBeGreaterThanOrEqual(killCount);
    expect(dueErased).toBeGreaterThan(0);
    await reader.stop();
    const cleaner = kafka.admin();
    await cleaner.connect();
    await cleaner.deleteTopics({ topics: [names.commands, names.results, names.dlq, names.expirations, ...eventTopics] }).catch(() => undefined);
    await cleaner.disconnect();
  });
});
