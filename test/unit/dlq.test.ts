import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KafkaMessage } from 'kafkajs';
import { messageBudget, recordSize } from '../../shared/kafka.ts';
import { dlqRecordOf, fitDlqRecord, maxDlqHeaders } from '../../workers/profile/dlq.ts';

// KafkaJS's own record encoder: what a record really takes on the wire.
const encodeRecord = createRequire(import.meta.url)('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string>;
}) => { buffer: Buffer };

const where = { topic: 'customer-commands-test', partition: 2 };
const kafkaMessage = (value: Buffer, headers: Record<string, Buffer>, key: Buffer | null = Buffer.from('k')): KafkaMessage =>
  ({ key, value, headers, offset: '7', timestamp: '0', attributes: 0 }) as KafkaMessage;

describe('DLQ copies (issue 9 items 2 and 5)', () => {
  it('given a message with a few headers, then its headers and the five error headers', () => {
    const record = dlqRecordOf(kafkaMessage(Buffer.from('{'), { 'ET-Client-Name': Buffer.from('a-b') }), where, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
    expect(record.headers).toEqual({
      'ET-Client-Name': Buffer.from('a-b'),
      'error-code': 'MALFORMED_JSON',
      'error-message': 'not valid JSON',
      'original-topic': where.topic,
      'original-partition': '2',
      'original-offset': '7',
    });
    expect(record.value?.toString()).toBe('{');
  });

  it('given a client header named like one the suite adds, then it is left out and counted, never taken for the suite\'s', () => {
    const record = dlqRecordOf(kafkaMessage(Buffer.from('{'), { 'error-headers-dropped': Buffer.from('abc'), 'error-truncated': Buffer.from('1') }), where, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
    expect(record.headers['error-headers-dropped']).toBe('2');
    expect(record.headers).not.toHaveProperty('error-truncated');
    expect(fitDlqRecord(record, 4_096)!.headers!['error-headers-dropped']).toBe('2');
  });

  it('given 150,000 headers and a __proto__ one, then the copy is made in linear time, keeps the first 1,000 and counts the rest', () => {
    const headers: Record<string, Buffer> = {};
    Object.defineProperty(headers, '__proto__', { value: Buffer.from('p'), enumerable: true });
    for (let index = 0; index < 150_000; index++) headers[`h${index}`] = Buffer.from('x');
    const started = performance.now();
    const record = dlqRecordOf(kafkaMessage(Buffer.from('{'), headers), where, { code: 'MALFORMED_JSON', message: 'not valid JSON' });
    expect(performance.now() - started).toBeLessThan(500);
    expect(Object.keys(record.headers)).toHaveLength(maxDlqHeaders + 6);
    expect(Object.hasOwn(record.headers, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(record.headers)).toBe(Object.prototype);
    expect(record.headers['error-headers-dropped']).toBe(String(150_001 - maxDlqHeaders));
  });

  it('given a copy over the DLQ topic limit, then it is cut to fit and flagged with the original size', () => {
    const value = Buffer.alloc(1_040_000, 'v');
    const key = Buffer.alloc(5_000, 'k');
    const record = dlqRecordOf(kafkaMessage(value, { a: Buffer.alloc(60_000, 'a') }, key), where, { code: 'MALFORMED_JSON', message: 'x'.repeat(5_000) });
    const budget = messageBudget(1_048_588);
    expect(recordSize(record)).toBeGreaterThan(budget);
    const fitted = fitDlqRecord(record, budget)!;
    expect(recordSize(fitted)).toBeLessThanOrEqual(budget);
    expect(fitted.headers).toMatchObject({ 'error-truncated': '1040000', 'error-key-truncated': '5000', 'error-headers-dropped': '1', 'error-code': 'MALFORMED_JSON', 'original-offset': '7' });
    expect((fitted.headers!['error-message'] as string).length).toBe(1_024);
    expect(Buffer.compare(fitted.value as Buffer, value.subarray(0, (fitted.value as Buffer).length))).toBe(0);
    expect((fitted.value as Buffer).length).toBeGreaterThan(1_000_000);
    expect(fitDlqRecord(record, 100)).toBeNull();
  });

  it('property: recordSize is never below what KafkaJS encodes', () => {
    const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array));
    fc.assert(
      fc.property(fc.option(bytes), fc.option(bytes), fc.dictionary(fc.string({ maxLength: 20 }), fc.oneof(bytes, fc.string({ maxLength: 50 })), { maxKeys: 20 }), (key, value, headers) => {
        expect(recordSize({ key, value, headers })).toBeGreaterThanOrEqual(encodeRecord({ key, value, headers }).buffer.length);
      }),
    );
  });
});
