import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import type { AvroCodec } from '../../shared/avro.ts';
import { DecodeError } from '../../shared/errors.ts';
import avro from 'avsc';
import { readSchemaFile } from '../../shared/avro.ts';
import { limits } from '../../workers/profile/limits.ts';
import { decodeMessage, headerValue } from '../../workers/profile/messages.ts';

/** Decoding of plain bytes needs no registry; framed bytes get a codec that knows no schema. */
const codec: AvroCodec = {
  register: () => Promise.reject(new Error('not used')),
  encode: () => Buffer.alloc(0),
  // Schema id 7 stands for a JSON Schema id of a shared registry; every other id is unknown.
  decode: (buffer) =>
    Promise.reject(
      buffer.readInt32BE(1) === 7
        ? new DecodeError('schema id 7 is a JSON schema, not Avro', undefined, 'NOT_AVRO_SCHEMA')
        : new DecodeError(`unknown schema id ${buffer.readInt32BE(1)}`, undefined, 'UNKNOWN_SCHEMA'),
    ),
  isFramed: (buffer) => buffer.length >= 5 && buffer[0] === 0,
};

const message = (value: Buffer | null, headers: KafkaMessage['headers'] = { 'ET-Client-Name': 'acme-shop' }): KafkaMessage =>
  ({ key: Buffer.from('k'), value, headers, offset: '42', timestamp: '0', attributes: 0 }) as KafkaMessage;

const decode = (value: Buffer | null, headers?: KafkaMessage['headers']) => decodeMessage(message(value, headers), { topic: 't', partition: 0 }, codec);

describe('decodeMessage', () => {
  it('given a JSON object, then a command with its client name and a correlation id derived from the commandId', async () => {
    const first = await decode(Buffer.from('{"commandId":"c1","type":"X"}'));
    const again = await decode(Buffer.from('{"commandId":"c1","type":"X"}'));
    expect(first).toMatchObject({ kind: 'command', raw: { commandId: 'c1' }, headers: { clientName: 'acme-shop' } });
    expect(first.headers.correlationId).toBe(again.headers.correlationId);
  });

  it('given X-Correlation-Id in any case, then it is used', async () => {
    expect((await decode(Buffer.from('{}'), { 'x-correlation-id': 'abc', 'et-client-name': 'a-b' })).headers).toEqual({ correlationId: 'abc', clientName: 'a-b' });
    expect(headerValue(message(null, { 'ET-Client-Name': [Buffer.from('x-y')] }), 'et-client-name')).toBe('x-y');
  });

  it.each([
    ['an empty value', null, 'EMPTY_MESSAGE'],
    ['broken JSON', Buffer.from('{"commandId":"c9",'), 'MALFORMED_JSON'],
    ['a JSON array', Buffer.from('[1]'), 'NOT_AN_OBJECT'],
    ['a JSON string', Buffer.from('"text"'), 'NOT_AN_OBJECT'],
    ['an unknown schema id', Buffer.from([0, 0, 0, 0, 9, 1]), 'UNKNOWN_SCHEMA'],
    ['a schema id that is not Avro', Buffer.from([0, 0, 0, 0, 7, 1]), 'NOT_AVRO_SCHEMA'],
  ])('given %s, then undecodable with %s', async (_, value, code) => {
    expect(await decode(value)).toMatchObject({ kind: 'undecodable', code });
  });

  it('given broken JSON with a readable commandId, then the commandId is kept for the result', async () => {
    expect(await decode(Buffer.from('{"type":"CreateProfile","commandId":"c9", "payload": {'))).toMatchObject({ kind: 'undecodable', commandId: 'c9' });
  });

  it('given a command over the size limit, then TOO_LARGE, not decoded; its commandId is read from its start and answered LIMIT_EXCEEDED', async () => {
    const big = Buffer.from(JSON.stringify({ commandId: 'big-1', type: 'CreateProfile', payload: { x: 'y'.repeat(limits.commandBytes) } }));
    expect(await decode(big)).toMatchObject({ kind: 'undecodable', code: 'TOO_LARGE', commandId: 'big-1', resultCode: 'LIMIT_EXCEEDED', message: `command: at most ${limits.commandBytes} bytes` });
    const atLimit = Buffer.from(JSON.stringify({ commandId: 'ok-1', pad: 'y'.repeat(limits.commandBytes - 40) }));
    expect(atLimit.length).toBeLessThanOrEqual(limits.commandBytes);
    expect(await decode(atLimit)).toMatchObject({ kind: 'command' });
  });

  it('given JSON with invalid UTF-8, then MALFORMED_UTF8 (not silently replaced), the commandId still answered INVALID_COMMAND', async () => {
    const bytes = Buffer.concat([Buffer.from('{"commandId":"u-1","type":"CreateProfile","payload":{"firstName":"K'), Buffer.from([0xff, 0xfe]), Buffer.from('ri"}}')]);
    expect(await decode(bytes)).toMatchObject({ kind: 'undecodable', code: 'MALFORMED_UTF8', commandId: 'u-1', resultCode: 'INVALID_COMMAND' });
    // A U+FFFD the client really wrote is valid UTF-8.
    expect(await decode(Buffer.from('{"commandId":"u-2","note":"\uFFFD"}'))).toMatchObject({ kind: 'command' });
  });

  it('given Avro whose strings are invalid UTF-8, then MALFORMED_UTF8; a real U+FFFD in them is kept', async () => {
    const type = avro.Type.forSchema(await readSchemaFile(new URL('../../schemas/CustomerCommand.avsc', import.meta.url)));
    const avroCodec: AvroCodec = { ...codec, decode: async (buffer) => ({ schemaId: 7, value: type.fromBuffer(buffer.subarray(5)) }) };
    const framed = (record: Record<string, unknown>, patch?: (body: Buffer) => void) => {
      const body = type.toBuffer(record);
      patch?.(body);
      return Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), body]);
    };
    const record = { commandId: 'a-1', type: 'CreateProfile', organisationId: 1, customerNumber: null, payload: '{"firstName":"KXri"}' };
    const broken = framed(record, (body) => body.writeUInt8(0xff, body.indexOf('KXri') + 1));
    const decodeAvro = (value: Buffer) => decodeMessage(message(value), { topic: 't', partition: 0 }, avroCodec);
    expect(await decodeAvro(broken)).toMatchObject({ kind: 'undecodable', code: 'MALFORMED_UTF8', commandId: 'a-1' });
    expect(await decodeAvro(framed({ ...record, payload: '{"firstName":"K\uFFFDri"}' }))).toMatchObject({ kind: 'command', raw: { payload: { firstName: 'K\uFFFDri' } } });
  });

  it('given 150,000 headers and a 1 MB client name, then headers are read in linear time and bounded in length', async () => {
    const headers: Record<string, Buffer> = {};
    for (let index = 0; index < 150_000; index++) headers[`h${index}`] = Buffer.from('x');
    headers['et-client-name'] = Buffer.from('acme-'.padEnd(1_000_000, 'x'));
    const started = performance.now();
    const decoded = await decode(Buffer.from('{"commandId":"c1"}'), headers);
    expect(performance.now() - started).toBeLessThan(500);
    expect(decoded.headers.clientName).toHaveLength(256);
  });

  it('property: any bytes decode to a command or an undecodable record, never an exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.json().map((text) => new TextEncoder().encode(text))), async (bytes) => {
        const decoded = await decode(Buffer.from(bytes));
        expect(['command', 'undecodable']).toContain(decoded.kind);
        if (decoded.kind === 'undecodable') expect(decoded.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('decodeMessage: trace context', () => {
  const json = Buffer.from(JSON.stringify({ commandId: 'c-1', type: 'UpdateProfile' }));
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('given a traceparent and tracestate header (any case), then the command carries them', async () => {
    const decoded = await decode(json, { 'ET-Client-Name': 'acme-shop', TraceParent: traceparent, tracestate: Buffer.from('v=1') });
    expect(decoded.trace).toEqual({ traceparent, tracestate: 'v=1' });
  });

  it('given an invalid traceparent, or none, then no trace context (a new trace is started later)', async () => {
    expect((await decode(json, { 'ET-Client-Name': 'acme-shop', traceparent: 'nope', tracestate: 'v=1' })).trace).toBeUndefined();
    expect((await decode(json)).trace).toBeUndefined();
  });

  it('given an undecodable message with a traceparent, then it keeps it for its REJECTED result', async () => {
    const decoded = await decode(Buffer.from('{"commandId":"c-2",'), { 'ET-Client-Name': 'acme-shop', traceparent });
    expect(decoded).toMatchObject({ kind: 'undecodable', commandId: 'c-2', trace: { traceparent } });
  });
});
