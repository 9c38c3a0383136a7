import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { ensureTopics, makeKafka, makeProducer, runConsumer, sendInChunks } from '../../shared/kafka.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { topics } from '../../shared/topics.ts';
import { cleanup, deletesTopicsOf, randomName, testLogger, waitFor } from '../helpers/services.ts';
import { withDatabase } from '../helpers/suiteProcess.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The suite as `npm start` runs it, its stdout collected; `ready` resolves at "suite ready". */
function startSuite(env: Record<string, string>) {
  const child = spawn(process.execPath, ['app/main.ts'], {
    cwd: root,
    env: { ...process.env, ...inject('services'), OPS_PORT: '0', BOARD_DISABLED: 'true', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanup(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"suite ready"')) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before ready: ${output.slice(-500)}`)));
  });
  return { child, exit, ready, output: () => output };
}

/** SPEC §7: SIGTERM / SIGINT stop consuming, finish the batch in flight, commit, close, exit 0. */
describe('the suite process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('on %s drains and exits 0 within 10 s', async (signal) => {
    const env = randomName('shutdown');
    deletesTopicsOf(env);
    const child = spawn(process.execPath, ['app/main.ts'], {
      cwd: root,
      env: { ...process.env, ...inject('services'), PROFILES_ENV: env, OPS_PORT: '0', BOARD_DISABLED: 'true', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"suite ready"')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before ready: ${output.slice(-500)}`)));
    });
    const signalledAt = Date.now();
    child.kill(signal);
    expect(await exit).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(output).toContain('"stopped"');
  });

  it('on SIGTERM in the middle of a backlog stops after the step in flight, exits 0 within 10 s, and loses no command', async () => {
    const services = inject('services');
    const env = randomName('backlog');
    const names = topics(env);
    const logger = testLogger();
    const kafka = makeKafka({ brokers: services.KAFKA_BROKERS.split(','), clientId: randomName('backlog'), logger });
    const admin = kafka.admin();
    await admin.connect();
    const database = randomName('backlog').replace('-', '_');
    deletesTopicsOf(env);
    cleanup(async () => {
      await admin.disconnect();
      const mongo = await connectMongo(services.MONGODB_URI, { dbName: database });
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    // Two partitions of 10,000 commands each: every fetched batch is a backlog of many steps.
    await ensureTopics(admin, [
      { topic: names.commands, numPartitions: 2 },
      { topic: names.results, numPartitions: 2 },
    ]);
    const total = 20_000;
    const producer = makeProducer(kafka);
    await producer.connect();
    const messages = Array.from({ length: total }, (_, index) => ({
      key: `backlog-${index}`,
      value: JSON.stringify({ commandId: `backlog-${index}`, type: 'CreateProfile', organisationId: 1, payload: { createdBy: 'agent-7', createdByChannel: 'web', firstName: 'B', surname: `S${index}` } }),
      headers: { 'ET-Client-Name': 'acme-ticketshop' },
    }));
    await sendInChunks(producer, [{ topic: names.commands, messages }]);
    await producer.disconnect();

    const answered = new Set<string>();
    const reader = await runConsumer({
      kafka,
      groupId: randomName('backlog-reader'),
      topics: [names.results],
      logger,
      fromBeginning: true,
      handleBatch: async (batch) => {
        for (const message of batch.messages) answered.add(message.key!.toString());
      },
    });
    cleanup(() => reader.stop());

    const suiteEnv = { PROFILES_ENV: env, MONGODB_URI: withDatabase(services.MONGODB_URI, database) };
    const first = startSuite(suiteEnv);
    await first.ready;
    await waitFor('the first results', () => answered.size > 0, { timeoutMs: 60_000 });
    const signalledAt = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(answered.size).toBeLessThan(total); // it stopped in the middle of the backlog

    // What it had not done is done by the next process: every command answered.
    const second = startSuite(suiteEnv);
    await second.ready;
    await waitFor(`${total} commands answered`, () => answered.size === total, { timeoutMs: 120_000 });
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  }, 240_000);

  it('refuses to start without dashboard credentials, naming the variables', async () => {
    const child = spawn(process.execPath, ['app/main.ts'], {
      cwd: root,
      env: { ...process.env, ...inject('services'), PROFILES_ENV: randomName('noboard'), OPS_PORT: '0', BOARD_USER: '', BOARD_PASSWORD: '', BOARD_DISABLED: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/BOARD_USER/);
    expect(stderr).toMatch(/BOARD_PASSWORD/);
  });
});
