import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decoderModule, isDecoderPatched, originalHeaderDecoding, patchDecoderFile } from '../../shared/kafkajsPatch.ts';

// KafkaJS's own record encoder and decoder, as the consumer runs them.
const require = createRequire(import.meta.url);
type Decoder = { readVarIntBytes: () => Buffer };
const DecoderClass = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => Decoder;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: { key: Buffer; value: Buffer; headers: Record<string, Buffer | Buffer[]> }) => { buffer: Buffer };
const decodeRecord = require(decoderModule) as (decoder: Decoder, context: object) => { headers: Record<string, Buffer | Buffer[]> };

/** A record as the broker hands it over, with `count` one-byte headers (keys h0, h1, …). */
function recordWith(count: number, extra: Record<string, Buffer | Buffer[]> = {}): Buffer {
  const headers: Record<string, Buffer | Buffer[]> = {};
  for (let index = 0; index < count; index++) headers[`h${index}`] = Buffer.from('x');
  return encodeRecord({ key: Buffer.from('k'), value: Buffer.from('{}'), headers: { ...headers, ...extra } }).buffer;
}

const decodeTimed = (bytes: Buffer) => {
  const started = performance.now();
  const record = decodeRecord(new DecoderClass(new DecoderClass(bytes).readVarIntBytes()), { firstOffset: '0', firstTimestamp: '0' });
  return { record, ms: performance.now() - started };
};

describe('KafkaJS record headers (issue 9 item 5)', () => {
  it('given the installed KafkaJS, then its decoder is the patched, linear one (npm ci applies scripts/patchKafkajs.ts)', () => {
    expect(isDecoderPatched()).toBe(true);
  });

  it('given a record with 150,000 headers (the 1 MB limit allows about 300,000), then KafkaJS decodes it in well under a second', () => {
    // A quadratic decoder already takes seconds on the small one: the big one is not even tried then.
    const small = decodeTimed(recordWith(3_000));
    expect(small.ms).toBeLessThan(1_000);
    const big = decodeTimed(recordWith(150_000));
    expect(Object.keys(big.record.headers)).toHaveLength(150_000);
    expect(big.ms).toBeLessThan(1_000);
  });

  it('given repeated, __proto__ and constructor keys, then the same headers as the original decoder, without its constructor bug', () => {
    const bytes = encodeRecord({
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      headers: { a: [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')], constructor: Buffer.from('c'), ['__proto__']: Buffer.from('p') },
    }).buffer;
    const { headers } = decodeTimed(bytes).record;
    expect(headers['a']!.toString()).toBe('1,2,3');
    expect(headers['a']).toHaveLength(3);
    expect(String(headers['constructor'])).toBe('c');
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.hasOwn(headers, '__proto__')).toBe(true);
    expect(Object.keys(headers)).toEqual(['a', 'constructor', '__proto__']);
  });

  it('given the original decoder file, then the patch applies once, is idempotent, and refuses a file it does not know', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafkajs-patch-'));
    try {
      const file = join(dir, 'decoder.js');
      writeFileSync(file, `module.exports = (decoder) => {\n${originalHeaderDecoding}  return headers\n}\n`);
      expect(patchDecoderFile(file)).toBe('patched');
      const once = readFileSync(file, 'utf8');
      expect(once).not.toContain('.reduce(');
      expect(patchDecoderFile(file)).toBe('already patched');
      expect(readFileSync(file, 'utf8')).toBe(once);
      writeFileSync(file, 'module.exports = () => ({ headers: {} })\n');
      expect(() => patchDecoderFile(file)).toThrow(/not the KafkaJS 2.2.4 record decoder/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
