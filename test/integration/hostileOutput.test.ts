import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes } from 'kafkajs';
import { makeKafka } from '../../shared/kafka.ts';
import { commandJson, creator } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { randomName, testLogger, waitFor } from '../helpers/services.ts';
import { shortenedResultMessage } from '../../workers/profile/fit.ts';

/**
 * What the profile worker produces fits its topics, whatever comes in (issue 9 items 2, 4, 5): the
 * results and DLQ topics get a small max.message.bytes (1 KiB, 32 KiB) so that "too large" is cheap to reach.
 */
describe('profile worker: hostile input, bounded output', () => {
  let harness: ProfileHarness;
  const limit = 32 * 1024;
  /** Keys are at most 1 KiB (a larger one is refused): a result keyed by one can pass a 1 KiB topic limit. */
  const resultsLimit = 1024;
  beforeAll(async () => {
    harness = await startProfileHarness({ startWorker: false });
    const admin = makeKafka({ brokers: harness.config.kafka.brokers, clientId: randomName('limits'), logger: testLogger() }).admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: harness.names.results, configEntries: [{ name: 'max.message.bytes', value: String(resultsLimit) }] },
        { type: ConfigResourceTypes.TOPIC, name: harness.names.dlq, configEntries: [{ name: 'max.message.bytes', value: String(limit) }] },
      ],
    });
    await admin.disconnect();
    await harness.startWorker();
  });
  afterAll(async () => {
    await harness?.close();
  });

  const valid = () => commandJson('CreateProfile', { ...creator, firstName: 'A', surname: 'B' });

  it('a result larger than the results topic allows is shortened and sent; the partition goes on', async () => {
    // The result repeats the command's key: a key of 1,000 bytes makes it too large for a 1 KiB topic.
    const key = `k-${'x'.repeat(1_000)}`;
    const rejected = commandJson('CreateProfile', { ...creator, firstName: 'A' });
    await harness.send(rejected, { key });
    const after = valid();
    await harness.send(after, { key });
    expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    const result = await harness.result(rejected['commandId'] as string);
    expect(result).toMatchObject({ status: 'REJECTED', code: 'INVALID_COMMAND', message: shortenedResultMessage });
    expect(harness.resultsFor(rejected['commandId'] as string)[0]!.key).toBe(rejected['commandId']);
  });

  it('a DLQ copy larger than the DLQ topic allows is cut and flagged; thousands of headers are dropped but counted; the partition goes on', async () => {
    const key = randomName('dlq-big');
    const headers: Record<string, string> = {};
    for (let index = 0; index < 5_000; index++) headers[`h${index}`] = 'x';
    const broken = `{"type":"CreateProfile","payload":"${'p'.repeat(60_000)}`;
    await harness.send(broken, { key, headers });
    const after = valid();
    await harness.send(after, { key });
    expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
    const record = await waitFor('the DLQ copy', () => harness.dlq.find((entry) => entry.key === key));
    expect(record.headers).toMatchObject({ 'error-code': 'MALFORMED_JSON', 'error-truncated': String(broken.length), 'error-headers-dropped': '5001', 'original-topic': harness.names.commands });
    expect(broken.startsWith(record.value!)).toBe(true);
    expect(record.value!.length).toBeGreaterThan(limit - 4_096);
  });

  it('a command with 150,000 headers is answered, and the worker stays responsive', async () => {
    // A raw producer, as any client: KafkaJS's encoder takes a plain object of headers.
    const raw = new Kafka({ clientId: randomName('flood'), brokers: harness.config.kafka.brokers, logLevel: logLevel.NOTHING });
    const producer = raw.producer();
    await producer.connect();
    try {
      // 100,000 distinct short names and one name 50,000 times: about 850 KB, under the 1 MB limit.
      const headers: Record<string, string | string[]> = { 'ET-Client-Name': 'acme-ticketshop', r: Array.from({ length: 50_000 }, () => '') };
      for (let index = 0; index < 100_000; index++) headers[index.toString(36)] = '';
      const flood = valid();
      await producer.send({ topic: harness.names.commands, acks: -1, messages: [{ key: flood['commandId'] as string, value: JSON.stringify(flood), headers }] });
      const after = valid();
      await harness.send(after, { key: flood['commandId'] as string });
      // The worker runs in this process: the loop never stops for long while it decodes and answers.
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      expect(await harness.result(flood['commandId'] as string, 30_000)).toMatchObject({ status: 'ACCEPTED' });
      expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
      delay.disable();
      expect(delay.max / 1e6).toBeLessThan(1_000);
    } finally {
      await producer.disconnect();
    }
  });

  it('a command framed with a JSON Schema id goes to the DLQ as NOT_AVRO_SCHEMA, an unknown id as UNKNOWN_SCHEMA; neither is retried', async () => {
    const registry = harness.config.registryUrl;
    const subject = randomName('foreign-json');
    const response = await fetch(`${registry}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' }) }),
    });
    const { id } = (await response.json()) as { id: number };
    try {
      const key = randomName('foreign');
      const framed = (schemaId: number) => {
        const bytes = Buffer.from([0, 0, 0, 0, 0, ...Buffer.from('{"commandId":"x"}')]);
        bytes.writeInt32BE(schemaId, 1);
        return bytes;
      };
      await harness.send(framed(id), { key });
      await harness.send(framed(0x7ffffff0), { key });
      const after = valid();
      await harness.send(after, { key });
      expect(await harness.result(after['commandId'] as string)).toMatchObject({ status: 'ACCEPTED' });
      const records = await waitFor('two DLQ records', () => {
        const found = harness.dlq.filter((entry) => entry.key === key);
        return found.length >= 2 ? found : undefined;
      });
      expect(records.map((record) => record.headers['error-code'])).toEqual(['NOT_AVRO_SCHEMA', 'UNKNOWN_SCHEMA']);
      expect(records[0]!.headers['error-message']).toBe(`schema id ${id} is not an Avro schema`);
    } finally {
      await fetch(`${registry}/subjects/${subject}`, { method: 'DELETE' });
      await fetch(`${registry}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    }
  });
});
