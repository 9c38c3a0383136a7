// asyncapi.yaml is the public contract on Kafka. It is parsed here as a client's tooling would
// (@asyncapi/parser, its $refs to schemas/ resolved, the Avro schemas read by the Avro schema
// parser), and checked against the code, so that a new command type, event type, rejection code,
// result field, header or topic cannot be left out of it.
import { readFileSync } from 'node:fs';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';
import { DiagnosticSeverity, Parser, fromFile, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import avro from 'avsc';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../scripts/stackEnv.ts';
import { loadConfig } from '../../shared/config.ts';
import type { DecodeReason } from '../../shared/errors.ts';
import { eventTopicConfig, retainedTopicConfig, type TopicConfig } from '../../shared/topicConfigs.ts';
import { topics } from '../../shared/topics.ts';
import { clientNamePattern, validateCommand } from '../../workers/profile/commands.ts';
import { dlqRecordOf, fitDlqRecord, maxDlqHeaderBytes, maxDlqHeaders } from '../../workers/profile/dlq.ts';
import { limits } from '../../workers/profile/limits.ts';
import { type UndecodableCode } from '../../workers/profile/messages.ts';
import { commandTypes, eventTypes, rejectionCodes, type CommandResult, type CustomerChanged, type DeletionReason, type Profile } from '../../workers/profile/model.ts';
import { clientNameHeader, correlationIdHeader } from '../../shared/topics.ts';
import { maxTracestateLength, traceparentHeader, tracestateHeader } from '../../shared/tracing.ts';

type Json = Record<string, unknown>;

// Union types have no runtime list: these records are checked by tsc to name each member exactly once.
const undecodableCodes = Object.keys({
  EMPTY_MESSAGE: true,
  TOO_LARGE: true,
  MALFORMED_UTF8: true,
  MALFORMED_JSON: true,
  NOT_AN_OBJECT: true,
  MALFORMED_AVRO: true,
  UNKNOWN_SCHEMA: true,
  NOT_AVRO_SCHEMA: true,
} satisfies Record<UndecodableCode | DecodeReason, true>);
const deletionReasons = Object.keys({ EXPIRED: true, DEACTIVATION_EXPIRED: true, MERGED: true } satisfies Record<DeletionReason, true>);
const resultFields = Object.keys({
  commandId: true,
  correlationId: true,
  clientName: true,
  organisationId: true,
  customerNumber: true,
  commandType: true,
  status: true,
  code: true,
  message: true,
  version: true,
  processedAt: true,
} satisfies Record<keyof CommandResult, true>);
const eventFields = Object.keys({
  eventId: true,
  eventType: true,
  reason: true,
  organisationId: true,
  customerNumber: true,
  version: true,
  occurredAt: true,
  changedBy: true,
  changedByChannel: true,
  commandId: true,
  correlationId: true,
  mergedInto: true,
  profile: true,
} satisfies Record<keyof CustomerChanged, true>);
/** Every field of a profile an event carries: all but the internal `ownExpirationDate`. */
const profileFields = Object.keys({
  uuid: true,
  customerNumber: true,
  customerRef: true,
  organisationId: true,
  profileType: true,
  status: true,
  firstName: true,
  surname: true,
  email: true,
  emailOld: true,
  emailVerifiedAt: true,
  countryCode: true,
  telephoneNumberNoCountryCode: true,
  landlineNumber: true,
  telephoneNumberVerifiedAt: true,
  dateOfBirth: true,
  dateOfDeath: true,
  nationality: true,
  languagePreferenceISO6393: true,
  expirationDate: true,
  relatedCustomerNumbers: true,
  postalAddresses: true,
  preferences: true,
  customerAccounts: true,
  createdAt: true,
  createdBy: true,
  createdByChannel: true,
  changedAt: true,
  changedBy: true,
  changedByChannel: true,
  version: true,
} satisfies Record<Exclude<keyof Profile, 'ownExpirationDate'>, true>);

const sorted = (values: Iterable<string>) => [...values].sort();

let document: AsyncAPIDocumentInterface;
let diagnostics: Diagnostic[];

beforeAll(async () => {
  const parser = new Parser();
  parser.registerSchemaParser(AvroSchemaParser());
  const parsed = await fromFile(parser, `${projectRoot}asyncapi.yaml`).parse();
  diagnostics = parsed.diagnostics;
  if (parsed.document) document = parsed.document;
});

const message = (channel: string, name: string) => {
  const found = document.channels().get(channel)?.messages().get(name);
  if (!found) throw new Error(`no message ${name} on channel ${channel}`);
  return found;
};
const payloadProperties = (channel: string, name: string) => Object.keys(message(channel, name).payload()?.properties() ?? {});
const enumOf = (json: unknown): unknown[] => {
  const schema = json as Json;
  if (Array.isArray(schema['enum'])) return schema['enum'];
  // A nullable Avro enum becomes a oneOf of null and the enum.
  const branches = (schema['oneOf'] ?? schema['anyOf'] ?? []) as Json[];
  return branches.flatMap((branch) => (Array.isArray(branch['enum']) ? branch['enum'] : []));
};
const componentEnum = (name: string) => document.components().schemas().get(name)?.enum() ?? [];
const headersOf = (channel: string, name: string) => message(channel, name).headers()?.json() as { properties: Record<string, Json>; required?: string[] };
const kafkaBinding = (json: { bindings?: { kafka?: Json } } | undefined) => json?.bindings?.kafka ?? {};

describe('asyncapi.yaml', () => {
  it('given the contract, when parsed with its $refs to schemas/ resolved, then no diagnostic is an error', () => {
    const errors = diagnostics.filter((diagnostic) => diagnostic.severity === DiagnosticSeverity.Error);
    expect(errors.map((error) => `${error.code}: ${error.message} at ${error.path.join('.')}`)).toEqual([]);
    expect(document).toBeDefined();
  });

  it('describes every public topic of shared/topics.ts, and not the internal expirations topic', () => {
    const sample = 987_654_321; // an organisation id to find in the address
    const names = topics('{env}');
    const wanted = [names.commands, names.results, names.customerChanged(sample).replace(String(sample), '{organisationId}'), names.dlq];
    expect(sorted(document.channels().all().map((channel) => channel.address() ?? ''))).toEqual(sorted(wanted));
    expect(readFileSync(`${projectRoot}asyncapi.yaml`, 'utf8')).toContain(`${names.expirations}\` (`);
    for (const channel of document.channels()) {
      for (const parameter of channel.parameters()) expect(channel.address()).toContain(`{${parameter.id()}}`);
    }
  });

  it('names every command type the worker accepts, in the JSON command schema', () => {
    const variants = message('commands', 'jsonCommand').payload()?.oneOf() ?? [];
    expect(variants.map((variant) => variant.properties()?.['type']?.const())).toEqual([...commandTypes]);
    expect(payloadProperties('commands', 'avroCommand')).toEqual(['commandId', 'type', 'organisationId', 'customerNumber', 'payload']);
  });

  it('names every field of a result, every status and every rejection code', () => {
    expect(sorted(payloadProperties('results', 'commandResult'))).toEqual(sorted(resultFields));
    expect(enumOf(message('results', 'commandResult').payload()?.properties()?.['status']?.json())).toEqual(['ACCEPTED', 'REJECTED']);
    expect(componentEnum('RejectionCode')).toEqual([...rejectionCodes]);
  });

  it('names every field of an event and its profile, every event type and every deletion reason', () => {
    const properties = message('customerChanged', 'customerChanged').payload()?.properties() ?? {};
    expect(sorted(Object.keys(properties))).toEqual(sorted(eventFields));
    expect(enumOf(properties['eventType']?.json())).toEqual([...eventTypes]);
    expect(sorted(enumOf(properties['reason']?.json()) as string[])).toEqual(sorted(deletionReasons));
    const profile = (properties['profile']?.oneOf() ?? []).find((branch) => branch.type() === 'object');
    expect(sorted(Object.keys(profile?.properties() ?? {}))).toEqual(sorted(profileFields));
  });

  it('gives the command headers the names, the rule and the requirement the worker applies', () => {
    for (const name of ['jsonCommand', 'avroCommand']) {
      const headers = headersOf('commands', name);
      expect(sorted(Object.keys(headers.properties))).toEqual(sorted([clientNameHeader, correlationIdHeader, traceparentHeader, tracestateHeader]));
      expect(headers.required).toEqual([clientNameHeader]);
      expect(headers.properties[clientNameHeader]?.['pattern']).toBe(clientNamePattern.source);
    }
    expect(headersOf('results', 'commandResult').required).toEqual([correlationIdHeader, traceparentHeader]);
    expect(Object.keys(headersOf('customerChanged', 'customerChanged').properties)).toEqual([correlationIdHeader, traceparentHeader, tracestateHeader]);
    expect(headersOf('customerChanged', 'customerChanged').required).toEqual([traceparentHeader]);
    expect(document.components().schemas().get('Tracestate')?.maxLength()).toBe(maxTracestateLength);
    expect(document.components().schemas().get('CommandKey')?.maxLength()).toBe(limits.keyBytes);
  });

  it('names every header a DLQ copy may carry, requires those it always carries, and every error code', () => {
    const where = { topic: 'customer-commands-test', partition: 0 };
    const original = { key: Buffer.alloc(5_000, 'k'), value: Buffer.from('{'), offset: '1', timestamp: '0', attributes: 0, headers: {} as Record<string, Buffer> };
    for (let index = 0; index <= maxDlqHeaders; index++) original.headers[`h${index}`] = Buffer.from('x');
    const plain = dlqRecordOf({ ...original, headers: {} }, where, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
    const crowded = dlqRecordOf(original, where, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
    const fitted = fitDlqRecord(crowded, 8_192);
    const suiteHeaders = new Set([...Object.keys(plain.headers), ...Object.keys(crowded.headers), ...Object.keys(fitted?.headers ?? {})].filter((name) => !name.startsWith('h')));
    const headers = headersOf('dlq', 'deadLetter');
    expect(sorted(Object.keys(headers.properties))).toEqual(sorted(suiteHeaders));
    expect(sorted(headers.required ?? [])).toEqual(sorted(Object.keys(plain.headers)));
    expect(componentEnum('UndecodableCode')).toEqual(undecodableCodes);
    const errorCode = JSON.stringify(headers.properties['error-code']);
    expect(errorCode).toContain(JSON.stringify(undecodableCodes));
    expect(errorCode).toContain(JSON.stringify(rejectionCodes));
    expect(message('dlq', 'deadLetter').description()).toContain(`${maxDlqHeaders.toLocaleString('en')} (${maxDlqHeaderBytes / 1024} KiB)`);
  });

  it('gives each topic the configuration the suite creates it with by default', () => {
    const { retention } = loadConfig({ KAFKA_BROKERS: 'k:9092', SCHEMA_REGISTRY_URL: 'http://r', MONGODB_URI: 'mongodb://m/db', REDIS_URL: 'redis://r' });
    const asBinding = (config: TopicConfig) =>
      Object.fromEntries(Object.entries(config).map(([name, value]) => [name, name === 'cleanup.policy' ? value.split(',') : Number(value)]));
    const configOf = (channel: string) => kafkaBinding(document.channels().get(channel)?.json())['topicConfiguration'];
    expect(configOf('commands')).toEqual(asBinding(retainedTopicConfig(retention.commandRetentionMs)));
    expect(configOf('dlq')).toEqual(asBinding(retainedTopicConfig(retention.dlqRetentionMs)));
    expect(configOf('customerChanged')).toEqual(asBinding(eventTopicConfig(retention)));
  });

  it('gives examples that the worker accepts (JSON commands) and that their Avro schemas accept', () => {
    const now = new Date('2026-11-22T12:00:00Z');
    const examples = message('commands', 'jsonCommand').examples().all();
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const headers = example.headers() as Record<string, string>;
      const validation = validateCommand(example.payload(), { clientName: headers[clientNameHeader] ?? null, correlationId: 'c' }, now);
      expect(validation.ok, `${example.name()}: ${JSON.stringify(validation)}`).toBe(true);
    }
    const avroExamples = [
      ['results', 'commandResult', 'CommandResult.avsc'],
      ['customerChanged', 'customerChanged', 'CustomerChanged.avsc'],
    ] as const;
    for (const [channel, name, file] of avroExamples) {
      const type = avro.Type.forSchema(JSON.parse(readFileSync(`${projectRoot}schemas/${file}`, 'utf8')) as avro.Schema);
      const given = message(channel, name).examples().all();
      expect(given.length).toBeGreaterThan(0);
      for (const example of given) expect(type.isValid(example.payload()), `${name} ${example.name()}`).toBe(true);
    }
  });
});
