import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serviceVariables } from '../../shared/config.ts';
import { recordMergedReceipt } from '../../shared/erasureReceipts.ts';
import { makeKafka } from '../../shared/kafka.ts';
import { headersOf, readToEnd } from '../../shared/topicReader.ts';
import { projectRoot } from '../../scripts/stackEnv.ts';
import { commandJson, creator } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { cleanup, randomName, testLogger, waitFor } from '../helpers/services.ts';

type Run = { code: number | null; stdout: string; stderr: string };

/** The environment a user's shell would have: none of the suite's variables but those given. */
function userEnv(env: Record<string, string>): Record<string, string> {
  const own = new Set<string>([...serviceVariables, 'PROFILES_ENV', 'ORGANISATION_IDS', 'LOG_LEVEL', 'NODE_ENV']);
  return { ...(Object.fromEntries(Object.entries(process.env).filter(([name, value]) => !own.has(name) && value !== undefined)) as Record<string, string>), ...env };
}

/** `profiles …` as an operator runs it: the bin/profiles shim package.json's `bin` names. */
function startCli(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(`${projectRoot}bin/profiles`, args, { cwd: projectRoot, env: userEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  cleanup(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input ?? '');
  const exit = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

const cli = (args: string[], env: Record<string, string> = {}, input?: string) => startCli(args, env, input).exit;

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);

describe('profiles CLI: arguments', () => {
  it('--help works for every subcommand', async () => {
    for (const command of ['send', 'tail', 'dlq', 'dlq list', 'dlq replay', 'verify-erasure', 'receipts', 'republish']) {
      const run = await cli([...command.split(' '), '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain(`Usage: profiles ${command}`);
    }
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['send', 'tail', 'dlq', 'verify-erasure', 'receipts', 'republish']) expect(top.stdout).toContain(command);
  });

  it('refuses invalid numbers and dates with a clear error and a non-zero exit, before connecting to anything', async () => {
    const cases: [string[], number, string][] = [
      [['tail', '--org', 'abc'], 2, "option '--org <id>' argument 'abc' is invalid. An organisation id is a whole number greater than 0."],
      [['receipts', '--org', '0'], 2, 'An organisation id is a whole number greater than 0'],
      [['republish', '--organisation', '1.5'], 2, 'An organisation id is a whole number greater than 0'],
      [['tail', '--org', '1', '--since', '2026-02-30'], 2, 'A date is YYYY-MM-DD'],
      [['dlq', 'replay', '12', '-3'], 2, ''],
      [['dlq', 'replay', '12', 'x'], 2, "value 'x' is invalid for argument 'offset'. An offset is a whole number from 0."],
      [['dlq', 'replay', '1', '--partition', 'one'], 2, 'A partition is a whole number from 0'],
      [['verify-erasure', '--org', '1', '--customer', 'abc'], 2, 'A customer number is a string of digits'],
      [['verify-erasure', '--org', '1'], 2, "required option '--customer <number>' not specified"],
      [['tail'], 2, "required option '--org <id>' not specified"],
      [['send', '--timeout', '5s', '{}'], 1, 'A timeout is a whole number of milliseconds'],
      [['send', '{"commandId":"c","firstName":"Kari"'], 1, 'the command is not valid JSON at position 35.'],
      [['send', '["Kari"]'], 1, 'the command must be a JSON object.'],
    ];
    for (const [args, code, message] of cases) {
      const run = await cli(args, { KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1', MONGODB_URI: 'mongodb://127.0.0.1:1/x', REDIS_URL: 'redis://127.0.0.1:1' });
      expect(run.code, args.join(' ')).toBe(code);
      expect(run.stderr, args.join(' ')).toContain(message);
      expect(run.stderr, args.join(' ')).not.toContain('Kari');
      expect(run.stdout, args.join(' ')).toBe('');
    }
  });

  it('npm run verify-erasure and npm run republish are the CLI with the old option names', async () => {
    for (const script of ['verify-erasure', 'republish']) {
      const child = spawn('npm', ['run', '--silent', script, '--', '--organisation', '0'], { cwd: projectRoot, env: userEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, script).toBe(2);
      expect(stderr, script).toContain('An organisation id is a whole number greater than 0');
    }
  });
});

describe('profiles CLI against the suite', () => {
  let harness: ProfileHarness;
  let env: Record<string, string>;
  beforeAll(async () => {
    harness = await startProfileHarness({ organisations: [1] });
    const services = inject('services');
    const mongoUri = new URL(services.MONGODB_URI);
    mongoUri.pathname = `/${harness.mongo.db.databaseName}`;
    env = { ...services, MONGODB_URI: mongoUri.toString(), PROFILES_ENV: harness.config.env, ORGANISATION_IDS: '1' };
  });
  afterAll(async () => {
    await harness?.close();
  });

  const create = (extra: Record<string, unknown> = {}) => commandJson('CreateProfile', { ...creator, firstName: 'Kari', surname: 'Nordmann', ...extra });

  it('send: a command and its result (and its events), exit 0; a rejected one exits 2', async () => {
    const command = create();
    const run = await cli(['send', '--events', '--correlation-id', 'cli-corr-1', JSON.stringify(command)], env);
    expect(run.code, run.stderr).toBe(0);
    // Pretty-printed JSON documents, one after the other: the result, then the event.
    const documents = run.stdout.split(/\n(?=\{)/).map((text) => JSON.parse(text) as Record<string, any>);
    expect(documents[0]!['result']).toMatchObject({ commandId: command['commandId'], status: 'ACCEPTED', correlationId: 'cli-corr-1', clientName: 'cli-profiles' });
    const customerNumber = documents[0]!['result'].customerNumber as string;
    expect(documents[1]!['event']).toMatchObject({ eventType: 'CREATED', customerNumber, correlationId: 'cli-corr-1', key: customerNumber });
    expect(run.stderr).toContain(`sent ${command['commandId']}`);
    expect(run.stderr).not.toContain('Kari');

    const rejected = commandJson('UpdateProfile', { changedBy: 'a', changedByChannel: 'web', surname: 'X' }, { customerNumber: '999999999' });
    const fromStdin = await cli(['send', '-'], env, JSON.stringify(rejected));
    expect(fromStdin.code, fromStdin.stderr).toBe(2);
    expect(JSON.parse(fromStdin.stdout)['result']).toMatchObject({ status: 'REJECTED', code: 'CUSTOMER_NOT_FOUND' });
  });

  it('tail --org prints the events the topic holds; --follow prints new ones until Ctrl-C', async () => {
    const first = await harness.run('CreateProfile', { ...creator, firstName: 'Tail', surname: 'One' });
    await waitFor('the CREATED event', () => harness.eventsOf(first.customerNumber!)[0]);
    const dump = await cli(['tail', '--org', '1'], env);
    expect(dump.code, dump.stderr).toBe(0);
    const lines = jsonLines(dump.stdout);
    const line = lines.find((entry) => entry['key'] === first.customerNumber);
    expect(line).toMatchObject({ partition: expect.any(Number), offset: expect.any(String), timestamp: expect.any(String), event: { eventType: 'CREATED', customerNumber: first.customerNumber, profile: { firstName: 'Tail' } } });
    const filtered = jsonLines((await cli(['tail', '--org', '1', '--customer', first.customerNumber!], env)).stdout);
    expect(filtered.map((entry) => entry['key'])).toEqual([first.customerNumber]);

    const follow = startCli(['tail', '--org', '1', '--follow'], env);
    await waitFor('tail to follow', () => follow.stderr().includes('following'), { timeoutMs: 30_000 });
    expect(follow.stdout()).toBe(''); // from the end: nothing old
    const second = await harness.run('CreateProfile', { ...creator, firstName: 'Tail', surname: 'Two' });
    await waitFor('the new event on stdout', () => jsonLines(follow.stdout()).some((entry) => entry['key'] === second.customerNumber), { timeoutMs: 30_000 });
    follow.child.kill('SIGINT');
    const ended = await follow.exit;
    expect(ended.code, ended.stderr).toBe(0);
    expect(jsonLines(ended.stdout).map((entry) => entry['event'].customerNumber)).toEqual([second.customerNumber]);
  });

  it('dlq list shows a DLQ record without its bytes; dlq replay sends it back with its key, its client headers and a replayed header', async () => {
    const key = randomName('dlq-key');
    const broken = '{"commandId":"broken-cli","type":"CreateProfile","payload":{"firstName":"Kari"';
    await harness.send(broken, { key, headers: { 'X-Correlation-Id': 'corr-dlq', 'x-client-note': 'n1' } });
    await waitFor('the DLQ record', () => harness.dlq.find((record) => record.key === key));

    const listed = await cli(['dlq', 'list', '--code', 'MALFORMED_JSON'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('Kari');
    const entry = jsonLines(listed.stdout).find((line) => line['key'] === key)!;
    expect(entry).toMatchObject({
      partition: 0,
      size: Buffer.byteLength(broken),
      clientName: 'acme-ticketshop',
      correlationId: 'corr-dlq',
      clientHeaders: ['ET-Client-Name', 'X-Correlation-Id', 'x-client-note'],
      errorHeaders: { 'error-code': 'MALFORMED_JSON', 'original-topic': harness.names.commands, 'original-partition': expect.any(String), 'original-offset': expect.any(String) },
    });
    expect(entry['value']).toBeUndefined();
    const withValues = jsonLines((await cli(['dlq', 'list', '--values'], env)).stdout).find((line) => line['key'] === key)!;
    expect(Buffer.from(withValues['value'] as string, 'base64').toString()).toBe(broken);

    const unknown = await cli(['dlq', 'replay', entry['offset'], '999999'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`unknown offset 999999 in ${harness.names.dlq}/0`);

    const replay = await cli(['dlq', 'replay', entry['offset']], env);
    expect(replay.code, replay.stderr).toBe(0);
    const [sent] = jsonLines(replay.stdout);
    expect(sent).toMatchObject({ replayed: `${harness.names.dlq}/0/${entry['offset']}`, key, topic: harness.names.commands });

    // Read back from the command topic as the worker sees it.
    const kafka = makeKafka({ brokers: harness.config.kafka.brokers, clientId: randomName('cli-test'), logger: testLogger() });
    const read = await readToEnd(kafka, [harness.names.commands], { startOffsets: [{ topic: harness.names.commands, partition: sent!['partition'], offset: BigInt(sent!['offset']) }] });
    const record = read.find(({ partition, message }) => partition === sent!['partition'] && message.offset === sent!['offset'])!.message;
    expect(record.key?.toString()).toBe(key);
    expect(record.value?.toString()).toBe(broken);
    expect(headersOf(record)).toEqual({
      'ET-Client-Name': 'acme-ticketshop',
      'X-Correlation-Id': 'corr-dlq',
      'x-client-note': 'n1',
      'replayed-from-dlq': `${harness.names.dlq}/0/${entry['offset']}`,
    });
    // Still broken, so back in the DLQ: with the replay's mark and fresh error headers of its own,
    // none left over from the first copy (those would have been counted as dropped).
    const again = await waitFor('the replayed record back in the DLQ', () => harness.dlq.filter((copy) => copy.key === key)[1]);
    expect(again.headers['replayed-from-dlq']).toBe(`${harness.names.dlq}/0/${entry['offset']}`);
    expect(again.headers['error-headers-dropped']).toBeUndefined();
  });

  it('receipts --org lists the organisation\'s receipts as JSON lines; --customer one of them', async () => {
    const now = new Date();
    await recordMergedReceipt(harness.mongo.db, { organisationId: 1, customerNumber: '7100001', version: 2 }, now);
    await recordMergedReceipt(harness.mongo.db, { organisationId: 1, customerNumber: '7100002', version: 3 }, new Date(now.getTime() + 1_000));
    await recordMergedReceipt(harness.mongo.db, { organisationId: 2, customerNumber: '7100003', version: 1 }, now);
    const all = await cli(['receipts', '--org', '1'], env);
    expect(all.code, all.stderr).toBe(0);
    expect(jsonLines(all.stdout)).toEqual([
      expect.objectContaining({ organisationId: 1, customerNumber: '7100001', reason: 'MERGED', lastVersion: 2, steps: ['merge'] }),
      expect.objectContaining({ organisationId: 1, customerNumber: '7100002', reason: 'MERGED', lastVersion: 3 }),
    ]);
    expect(jsonLines(all.stdout)[0]).not.toHaveProperty('_id');
    const one = jsonLines((await cli(['receipts', '--org', '1', '--customer', '7100002'], env)).stdout);
    expect(one.map((receipt) => receipt['customerNumber'])).toEqual(['7100002']);
    const later = jsonLines((await cli(['receipts', '--org', '1', '--since', new Date(now.getTime() + 500).toISOString()], env)).stdout);
    expect(later.map((receipt) => receipt['customerNumber'])).toEqual(['7100002']);
  });

  it('verify-erasure keeps its exit codes (1: a live customer is a trace); republish rebuilds the topic', async () => {
    const live = await harness.run('CreateProfile', { ...creator, firstName: 'Still', surname: 'Here' });
    const verify = await cli(['verify-erasure', '--org', '1', '--customer', live.customerNumber!], env);
    expect(verify.code, verify.stderr).toBe(1);
    expect(JSON.parse(verify.stdout)).toMatchObject({ customerNumber: live.customerNumber, complete: false, findings: expect.arrayContaining([{ where: 'erasureReceipts', what: 'no erasure receipt' }]) });

    const republished = await cli(['republish', '--org', '1'], env);
    expect(republished.code, republished.stderr).toBe(0);
    expect(JSON.parse(republished.stdout)).toMatchObject({ topic: harness.names.customerChanged(1), live: expect.any(Number) });
    expect(JSON.parse(republished.stdout).live).toBeGreaterThanOrEqual(1);
  });
});
