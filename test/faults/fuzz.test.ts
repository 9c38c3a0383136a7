// 10,000 fuzzed commands (FAULTS_FUZZ to change) against a running profile worker in a real child
// process: arbitrary bytes and strings, arbitrary JSON, valid commands with one defect each (missing
// or wrong-typed field, unknown, owned or deprecated field, bad ids, bad headers), broken JSON and
// bad Avro. Each must be answered — a REJECTED result and/or a DLQ record — and the worker must
// stay alive and go on accepting valid commands.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { makeAvroCodec, readSchemaFile, type RegisteredType } from '../../shared/avro.ts';
import { makeKafka, makeProducer, sendInChunks } from '../../shared/kafka.ts';
import { topics } from '../../shared/topics.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import type { CommandResult } from '../../workers/profile/model.ts';
import { randomName, testLogger, waitFor } from '../helpers/services.ts';
import { freePort, SuiteProcess, withDatabase } from '../helpers/suiteProcess.ts';
import { headersOf, readToEnd } from '../helpers/topicReader.ts';

const total = Number(process.env['FAULTS_FUZZ'] ?? 10_000);
const seed = Number(process.env['FAULTS_SEED'] ?? Date.now() % 2 ** 31);

type Fuzzed = { value: Buffer | null; key: string | null; clientName: string | null; kind: string; headers?: Record<string, string> };

const creator = { createdBy: 'fuzz', createdByChannel: 'web' };
const actor = { changedBy: 'fuzz', changedByChannel: 'web' };
const future = () => new Date(Date.now() + 86_400_000).toISOString();

/** Valid commands of every type (before their one defect); `id` makes the commandId unique. */
function validCommand(type: string, id: string): Record<string, unknown> {
  const base = { commandId: id, type, organisationId: 1 };
  const on = { ...base, customerNumber: '1000000' };
  switch (type) {
    case 'CreateProfile':
      return { ...base, payload: { ...creator, firstName: 'Kari', surname: 'Nordmann', email: `${id}@fuzz.example` } };
    case 'CreateTemporaryProfile':
      return { ...base, payload: { ...creator, expirationDate: future(), firstName: 'Tor' } };
    case 'UpdateProfile':
      return { ...on, payload: { ...actor, surname: 'Hansen' } };
    case 'UpdateTemporaryProfile':
      return { ...on, payload: { ...actor, expirationDate: future() } };
    case 'ConvertToPermanent':
      return { ...on, payload: { ...actor, firstName: 'Tor', surname: 'Li' } };
    case 'MergeTemporaryProfile':
      return { ...on, payload: { ...actor, permanentCustomerNumber: '1000001' } };
    case 'DefinePreference':
      return { ...base, payload: { key: 'zone', allowedValues: ['a', 'b'] } };
    case 'SetPreference':
      return { ...on, payload: { key: 'zone', value: 'a' } };
    case 'RemovePreference':
      return { ...on, payload: { key: 'zone' } };
    case 'AddCustomerAccount':
      return { ...on, payload: { customerAccountId: 'ABT-1' } };
    case 'RemoveCustomerAccount':
      return { ...on, payload: { customerAccountId: 'ABT-1' } };
    case 'DeactivateCustomer':
      return { ...on, payload: { ...actor, expirationDate: future() } };
    default:
      return { ...on, payload: { ...actor } }; // RestoreCustomer
  }
}

const commandTypes = [
  'CreateProfile', 'UpdateProfile', 'CreateTemporaryProfile', 'UpdateTemporaryProfile', 'ConvertToPermanent', 'MergeTemporaryProfile',
  'DefinePreference', 'SetPreference', 'RemovePreference', 'AddCustomerAccount', 'RemoveCustomerAccount', 'DeactivateCustomer', 'RestoreCustomer',
] as const;

/** A value of the wrong type for a string field (null is left out: null clears optional fields). */
const wrongValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant([]), fc.constant({}), fc.double(), fc.array(fc.string(), { minLength: 1, maxLength: 3 }));

const accountCommands = new Set<unknown>(['AddCustomerAccount', 'RemoveCustomerAccount']);

/** One defect that makes a valid command invalid, whatever the type. */
type Defect = (command: Record<string, unknown>, payload: Record<string, unknown>, id: string) => { command: Record<string, unknown>; clientName?: string | null };
const defects: fc.Arbitrary<[string, Defect]>[] = [
  fc.constant(['missing payload field', (command, payload) => {
    // Every type has at least one required payload field; drop them all but one optional extra.
    const required = ['createdBy', 'createdByChannel', 'changedBy', 'changedByChannel', 'key', 'customerAccountId', 'expirationDate', 'permanentCustomerNumber', 'firstName', 'surname', 'value'];
    const kept = Object.fromEntries(Object.entries(payload).filter(([field]) => !required.includes(field)));
    return { command: { ...command, payload: kept } };
  }] as [string, Defect]),
  fc.tuple(fc.constantFrom('createdBy', 'changedBy', 'key', 'firstName', 'surname', 'customerAccountId', 'expirationDate', 'email', 'countryCode', 'dateOfBirth'), wrongValue).map(
    ([field, value]) => [`payload.${field} wrong type`, (command, payload) => ({ command: { ...command, payload: { ...payload, [field]: value, ...(field in payload ? {} : { surname: 42 }) } } })] as [string, Defect],
  ),
  fc.tuple(fc.string({ minLength: 1, maxLength: 20 }).filter((name) => !['__proto__', 'constructor'].includes(name)), fc.jsonValue()).map(
    ([field, value]) => ['unknown payload field', (command, payload) => ({ command: { ...command, payload: { ...payload, [`x-${field}`]: value } } })] as [string, Defect],
  ),
  fc.constantFrom('uuid', 'version', 'customerNumber', 'emailOld', 'preferences', 'customerAccounts', 'telephoneNumber', 'languagePreference', 'consents', 'customerAccountId').map(
    // customerAccountId is the account commands' own field: on them the defect would be a valid command.
    (field) => [`owned or deprecated field ${field}`, (command, payload) => ({ command: { ...command, type: accountCommands.has(command['type']) ? 'UpdateProfile' : command['type'], payload: { ...payload, ...actor, [field]: field === 'version' ? 7 : 'x' } } })] as [string, Defect],
  ),
  fc.constantFrom<unknown>(0, -1, 1.5, '1', null, 'org', [], {}, 2 ** 60).map((organisationId) => ['bad organisationId', (command) => ({ command: { ...command, organisationId } })] as [string, Defect]),
  // Non-numeric, or present on a creation (where it is refused).
  fc.constantFrom<unknown>('abc', 12, '-5', '1e3', [], ' 1', '1000000').map((customerNumber) => ['bad customerNumber', (command) => ({ command: { ...command, customerNumber, type: customerNumber === '1000000' ? 'CreateProfile' : command['type'] } })] as [string, Defect]),
  fc.string({ maxLength: 30 }).map((type) => ['unknown type', (command) => ({ command: { ...command, type: `X${type}` } })] as [string, Defect]),
  fc.constantFrom<unknown>(null, 42, '', [], {}).map((type) => ['type wrong', (command) => ({ command: { ...command, type } })] as [string, Defect]),
  fc.constantFrom<unknown>(null, 'text', 42, [], true).map((payload) => ['payload not an object', (command) => ({ command: { ...command, payload } })] as [string, Defect]),
  fc.constant(['commandId too long', (command, _payload, id) => ({ command: { ...command, commandId: `${id}-${'x'.repeat(130)}` } })] as [string, Defect]),
  fc.constantFrom<unknown>(undefined, '', 42, null, ['a']).map((commandId) => ['commandId missing or wrong', (command) => ({ command: { ...command, commandId } })] as [string, Defect]),
  fc.constantFrom<string | null>(null, '', 'nodash', '-x', 'x-', 'a b-c').map((clientName) => ['bad ET-Client-Name', (command) => ({ command, clientName })] as [string, Defect]),
  fc.constant(['expiration in the past', (command) => ({ command: { ...command, type: 'CreateTemporaryProfile', customerNumber: undefined, payload: { ...creator, firstName: 'P', expirationDate: '2001-01-01T00:00:00Z' } } })] as [string, Defect]),
  fc.constantFrom('not-an-email', 'a@b', '@x.no').map((email) => ['bad email', (command) => ({ command: { ...command, type: 'CreateProfile', customerNumber: undefined, payload: { ...creator, firstName: 'E', surname: 'E', email } } })] as [string, Defect]),
];

/** Where a client string is checked: the field, and a command type whose payload has it. */
const stringFields: [field: string, type: string][] = [
  ...['firstName', 'surname', 'email', 'emailVerifiedAt', 'countryCode', 'telephoneNumberNoCountryCode', 'landlineNumber', 'telephoneNumberVerifiedAt',
    'dateOfBirth', 'dateOfDeath', 'nationality', 'customerRef', 'languagePreferenceISO6393', 'status', 'changedBy', 'changedByChannel'].map((field): [string, string] => [field, 'UpdateProfile']),
  ['createdBy', 'CreateProfile'], ['expirationDate', 'CreateTemporaryProfile'], ['permanentCustomerNumber', 'MergeTemporaryProfile'], ['key', 'SetPreference'],
  ['value', 'SetPreference'], ['description', 'DefinePreference'], ['allowedValues', 'DefinePreference'], ['customerAccountId', 'AddCustomerAccount'],
  ...['addressType', 'addressLine1', 'postalCode', 'city', 'country'].map((field): [string, string] => [`postalAddresses.${field}`, 'UpdateProfile']),
];

/** Shapes that make backtracking patterns and unbounded checks slow, repeated `n` times. */
const pathological = (shape: number, n: number) =>
  [`a@${'.'.repeat(n)}@`, '1'.repeat(n), ' '.repeat(n), `+${'1'.repeat(n)}x`, `2020-01-01T00:00:00${'0'.repeat(n)}`, `${'a-'.repeat(n)}!`, 'é'.repeat(n)][shape]!;

function withString(type: string, field: string, value: string, id: string): Record<string, unknown> {
  const command = validCommand(type, id);
  const payload = command['payload'] as Record<string, unknown>;
  if (field.startsWith('postalAddresses.')) {
    const address: Record<string, unknown> = { addressLine1: 'Gate 1', postalCode: '0150', city: 'Oslo', [field.slice('postalAddresses.'.length)]: value };
    return { ...command, payload: { ...payload, postalAddresses: [address] } };
  }
  return { ...command, payload: { ...payload, [field]: field === 'allowedValues' ? ['a', value] : value } };
}

/** A JSON text with an own key `name` inserted at the start of the payload object (or the envelope). */
const withOwnKey = (json: string, name: string, where: 'payload' | 'envelope') =>
  where === 'payload' ? json.replace('"payload":{', `"payload":{"${name}":{"x":1},`) : json.replace(/\}$/, `,"${name}":{"x":1}}`);

function fuzzArbitrary(avro: { command: RegisteredType; result: RegisteredType; foreign: number[] }): fc.Arbitrary<(id: string) => Fuzzed> {
  const text = (value: unknown) => Buffer.from(JSON.stringify(value));
  const plain = (kind: string, value: Buffer | null, key: string | null = null): Fuzzed => ({ value, key, clientName: 'acme-ticketshop', kind });
  return fc.oneof(
    // Raw bytes and strings (including empty values and lone magic bytes).
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => () => plain('bytes', Buffer.from(bytes))) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((value) => () => plain('string', Buffer.from(value))) },
    { weight: 1, arbitrary: fc.constantFrom<Buffer | null>(null, Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 0, 0])).map((value) => () => plain('empty or tiny', value)) },
    // Any JSON: scalars and arrays are not objects; objects get a unique commandId, and at most a
    // random `type`, so none of them is a valid command.
    { weight: 2, arbitrary: fc.jsonValue().map((value) => (id: string) => plain('json', text(value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value, commandId: id, type: `X-${String((value as { type?: unknown }).type)}` } : value))) },
    // Valid commands with one defect.
    {
      weight: 8,
      arbitrary: fc.tuple(fc.constantFrom(...commandTypes), fc.oneof(...defects), fc.option(fc.string({ maxLength: 40 }), { nil: null })).map(
        ([type, [name, defect], key]) =>
          (id: string) => {
            const command = validCommand(type, id);
            const { command: broken, clientName } = defect(command, command['payload'] as Record<string, unknown>, id);
            return { value: text(broken), key, clientName: clientName === undefined ? 'acme-ticketshop' : clientName, kind: `defect: ${name}` };
          },
      ),
    },
    // Broken JSON with a readable commandId: truncated, or with garbage around it.
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...commandTypes), fc.double({ min: 0, max: 0.999, noNaN: true }), fc.constantFrom('truncate', 'prefix', 'suffix')).map(
        ([type, cut, how]) =>
          (id: string) => {
            const json = JSON.stringify(validCommand(type, id));
            const broken = how === 'truncate' ? json.slice(0, Math.max(1, Math.floor(json.length * cut))) : how === 'prefix' ? `x${json}` : `${json},`;
            return plain(`broken json (${how})`, Buffer.from(broken));
          },
      ),
    },
    // Avro: a proper CustomerCommand whose payload is not a valid payload; random bodies behind a
    // known schema id; unknown schema ids; another schema's record.
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...commandTypes), fc.oneof(fc.string({ maxLength: 50 }), fc.constant('{"unknownField":1}'), fc.constant('[]'))).map(
        ([type, payload]) =>
          (id: string) => plain('avro: bad payload', makeFramed(avro.command, { commandId: id, type, organisationId: 1, customerNumber: type.startsWith('Create') || type === 'DefinePreference' ? null : '1000000', payload })),
      ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 100 }).map((body) => () => plain('avro: random body', frame(avro.command.id, Buffer.from(body)))) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1_000_000, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 40 })).map(([schemaId, body]) => () => plain('avro: unknown schema id', frame(schemaId, Buffer.from(body)))) },
    // Hostile input (issue 9): a pathological string in every checked field, at sizes that make a
    // backtracking pattern take seconds; more keys than allowed; a command over the size limit;
    // own keys named like Object.prototype members; invalid UTF-8 inside a string.
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...stringFields), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1_000, max: 40_000 })).map(
        ([[field, type], shape, n]) =>
          (id: string) => plain(`hostile string in ${field}`, text(withString(type, field, pathological(shape, n), id))),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...commandTypes), fc.integer({ min: 65, max: 5_000 })).map(
        ([type, count]) =>
          (id: string) => {
            const command = validCommand(type, id);
            const extra = Object.fromEntries(Array.from({ length: count }, (_, index) => [`k${index}`, index]));
            return plain('too many payload keys', text({ ...command, payload: { ...(command['payload'] as object), ...extra } }));
          },
      ),
    },
    { weight: 1, arbitrary: fc.constant((id: string) => plain('command over the size limit', text(withString('UpdateProfile', 'surname', 'x'.repeat(300_000), id)))) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...commandTypes), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'), fc.constantFrom('payload', 'envelope') as fc.Arbitrary<'payload' | 'envelope'>).map(
        ([type, name, where]) =>
          (id: string) => plain(`own key ${name} in the ${where}`, Buffer.from(withOwnKey(JSON.stringify(validCommand(type, id)), name, where))),
      ),
    },
    {
      weight: 1,
      // Inside a name of an otherwise valid creation: replaced silently, it would be accepted.
      arbitrary: fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xc0, 0xaf]).map(
        (bad) =>
          (id: string) => {
            const json = JSON.stringify(validCommand('CreateProfile', id));
            const at = json.indexOf('"Kari"') + 2;
            return plain('invalid UTF-8 in a string', Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from(bad), Buffer.from(json.slice(at))]));
          },
      ),
    },
    // Ids of JSON Schema and Protobuf schemas of the same (shared) registry.
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...avro.foreign), fc.uint8Array({ maxLength: 40 })).map(([schemaId, body]) => () => plain('avro: a schema id that is not Avro', frame(schemaId, Buffer.from(body)))) },
    // A flood of tiny headers (KafkaJS 2.2.4 as released decodes them in quadratic time) on an
    // creation without its names: answered (rejected) like any other, within the worker's heartbeats.
    {
      weight: 1,
      arbitrary: fc.integer({ min: 2_000, max: 30_000 }).map(
        (count) =>
          (id: string) => ({ ...plain('header flood', text({ ...validCommand('CreateProfile', id), payload: creator })), headers: Object.fromEntries(Array.from({ length: count }, (_, index) => [`h${index}`, 'x'])) }),
      ),
    },
    { weight: 1, arbitrary: fc.constant((id: string) => plain('avro: CommandResult record', makeFramed(avro.result, { commandId: id, correlationId: 'c', clientName: null, organisationId: 1, customerNumber: null, commandType: null, status: 'ACCEPTED', code: null, message: null, version: null, processedAt: new Date().toISOString() }))) },
  );
}

const frame = (schemaId: number, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
};
const makeFramed = (registered: RegisteredType, value: unknown) => frame(registered.id, registered.type.toBuffer(value));

describe(`fuzzed commands (${total}) against a running worker process`, () => {
  const services = inject('services');
  const env = randomName('fuzz');
  const database = randomName('fuzz').replace('-', '_');
  const logDir = join(tmpdir(), `faults-${env}`);
  let worker: SuiteProcess | undefined;
  afterAll(async () => {
    await worker?.stop();
  });

  it('each gets a REJECTED result and/or one DLQ record; the worker never dies and goes on accepting', async () => {
    const started = Date.now();
    const logger = testLogger();
    const names = topics(env);
    worker = new SuiteProcess({
      name: 'fuzz-worker',
      port: await freePort(),
      logDir,
      env: {
        ...services,
        MONGODB_URI: withDatabase(services.MONGODB_URI, database),
        PROFILES_ENV: env,
        WORKERS: 'profile',
        COMMAND_PARTITIONS: '3',
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        BOARD_DISABLED: 'true',
        LOG_LEVEL: 'error',
        KAFKA_CLIENT_ID: 'fuzz-worker',
      },
    });
    worker.start();
    await worker.waitReady();

    const codec = makeAvroCodec(services.SCHEMA_REGISTRY_URL);
    const [command, result] = await Promise.all([
      readSchemaFile(new URL('../../schemas/CustomerCommand.avsc', import.meta.url)).then((schema) => codec.register(schema)),
      readSchemaFile(new URL('../../schemas/CommandResult.avsc', import.meta.url)).then((schema) => codec.register(schema)),
    ]);
    // Schemas of other kinds in the same registry, as a shared registry holds them.
    const foreign: number[] = [];
    const foreignSubjects: string[] = [];
    for (const [schemaType, schema] of [
      ['JSON', JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'string' } } })],
      ['PROTOBUF', 'syntax = "proto3";\nmessage Probe { string a = 1; }\n'],
    ] as const) {
      const subject = randomName(`fuzz-${schemaType.toLowerCase()}`);
      const response = await fetch(`${services.SCHEMA_REGISTRY_URL}/subjects/${subject}/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schemaType, schema }),
      });
      expect(response.status).toBe(200);
      foreign.push(((await response.json()) as { id: number }).id);
      foreignSubjects.push(subject);
    }
    const cases = fc.sample(fuzzArbitrary({ command, result, foreign }), { numRuns: total, seed });
    const kafka = makeKafka({ brokers: services.KAFKA_BROKERS.split(','), clientId: randomName('fuzzer'), logger });
    const producer = makeProducer(kafka);
    await producer.connect();
    const sent = cases.map((make, index) => ({ correlationId: `fz-${index}`, ...make(`${env}-fz-${index}`) }));
    // In requests under the broker's limit (some cases are large on purpose).
    await sendInChunks(producer, [{
      topic: names.commands,
      messages: sent.map((fuzzed) => ({
        key: fuzzed.key,
        value: fuzzed.value,
        headers: { ...fuzzed.headers, 'X-Correlation-Id': fuzzed.correlationId, ...(fuzzed.clientName !== null ? { 'ET-Client-Name': fuzzed.clientName } : {}) },
      })),
    }]);
    // A valid command last: bad input before it must not have stopped anything.
    const probeId = `${env}-valid-after`;
    await producer.send({
      topic: names.commands,
      acks: -1,
      messages: [{ key: probeId, value: JSON.stringify(validCommand('CreateProfile', probeId)), headers: { 'ET-Client-Name': 'acme-ticketshop', 'X-Correlation-Id': 'valid-after' } }],
    });
    await producer.disconnect();

    // Poll the results and DLQ from the outside until every case has an answer (or time out).
    type Outcome = { results: CommandResult[]; dlq: Record<string, string>[] };
    let outcomes = new Map<string, Outcome>();
    let unmatched: unknown[] = [];
    const collect = async () => {
      const read = await readToEnd(kafka, [names.results, names.dlq]);
      outcomes = new Map();
      unmatched = [];
      const outcome = (id: string) => outcomes.get(id) ?? outcomes.set(id, { results: [], dlq: [] }).get(id)!;
      for (const { topic, message } of read) {
        if (topic === names.dlq) {
          const headers = headersOf(message);
          const id = headers['X-Correlation-Id'];
          if (id) outcome(id).dlq.push(headers);
          else unmatched.push(headers);
        } else {
          const value = (await codec.decode(message.value!)).value as CommandResult;
          outcome(value.correlationId).results.push(value);
        }
      }
    };
    const answered = () => sent.filter((fuzzed) => outcomes.has(fuzzed.correlationId)).length;
    await waitFor(
      'an answer to every fuzzed command',
      async () => {
        if (!worker!.alive) throw new Error('the worker process died');
        await collect();
        console.error(`[fuzz] answered ${answered()}/${total}`);
        return outcomes.has('valid-after') && answered() === total;
      },
      { timeoutMs: Math.max(300_000, total * 60), intervalMs: 3_000 },
    ).catch((error: Error) => {
      const missing = sent.filter((fuzzed) => !outcomes.has(fuzzed.correlationId)).slice(0, 10);
      throw new Error(`${error.message}; e.g. unanswered: ${JSON.stringify(missing.map((fuzzed) => ({ id: fuzzed.correlationId, kind: fuzzed.kind, value: fuzzed.value?.toString('base64') })))}`);
    });

    // What docs/commands.md promises for bad input: a command with a readable commandId gets exactly one
    // REJECTED result; a message that cannot be decoded gets exactly one DLQ record, and when a
    // commandId can still be read from it (broken JSON or UTF-8, too large) also its result. So each
    // case has at least one answer, at most one of each kind, and never an ACCEPTED result.
    const problems: string[] = [];
    // Undecodable messages whose commandId may still be read, and the code of their result.
    const answeredUndecodable = new Map([['MALFORMED_JSON', 'INVALID_COMMAND'], ['MALFORMED_UTF8', 'INVALID_COMMAND'], ['TOO_LARGE', 'LIMIT_EXCEEDED']]);
    const byKind = new Map<string, { n: number; results: number; dlq: number; both: number }>();
    for (const fuzzed of sent) {
      const { results, dlq } = outcomes.get(fuzzed.correlationId)!;
      const stats = byKind.get(fuzzed.kind) ?? byKind.set(fuzzed.kind, { n: 0, results: 0, dlq: 0, both: 0 }).get(fuzzed.kind)!;
      stats.n++;
      if (results.length > 0) stats.results++;
      if (dlq.length > 0) stats.dlq++;
      if (results.length > 0 && dlq.length > 0) stats.both++;
      const describe = () => `${fuzzed.correlationId} (${fuzzed.kind}) ${fuzzed.value?.toString('base64') ?? 'null'}`;
      if (results.length > 1) problems.push(`${results.length} results for ${describe()}`);
      if (dlq.length > 1) problems.push(`${dlq.length} DLQ records for ${describe()}`);
      if (results.some((answer) => answer.status !== 'REJECTED')) problems.push(`ACCEPTED: ${describe()} → ${JSON.stringify(results)}`);
      if (dlq.length > 0 && results.length > 0 && answeredUndecodable.get(dlq[0]!['error-code']!) !== results[0]!.code) {
        problems.push(`both a DLQ record (${dlq[0]!['error-code']}) and a result (${results[0]!.code}) for ${describe()}`);
      }
    }
    console.error(`[fuzz] by kind (cases, with result, with DLQ record, with both):\n${[...byKind].map(([kind, s]) => `  ${kind}: ${s.n}, ${s.results}, ${s.dlq}, ${s.both}`).join('\n')}`);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(unmatched).toEqual([]);
    expect(outcomes.get('valid-after')!.results.map((answer) => answer.status)).toEqual(['ACCEPTED']);

    // Alive throughout (no exit recorded), answering /healthz and /readyz, and no fatal log line.
    expect(worker.exits).toEqual([]);
    expect(worker.starts).toBe(1);
    expect(await worker.healthy()).toBe(true);
    expect(await worker.ready()).toBe(true);
    const mongo = await connectMongo(withDatabase(services.MONGODB_URI, database));
    await mongo.db.dropDatabase();
    await mongo.close();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [names.commands, names.results, names.dlq, names.expirations] }).catch(() => undefined);
    for (const subject of foreignSubjects) {
      await fetch(`${services.SCHEMA_REGISTRY_URL}/subjects/${subject}`, { method: 'DELETE' });
      await fetch(`${services.SCHEMA_REGISTRY_URL}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    }
    await admin.disconnect();
    console.error(`[fuzz] ${total} cases (seed ${seed}) in ${Math.round((Date.now() - started) / 1000)} s; worker log: ${worker.logFile}`);
  });
});
