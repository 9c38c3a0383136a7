import { describe, expect, it } from 'vitest';
import type avro from 'avsc';
import { makeAvroCodec } from '../../shared/avro.ts';
import { DecodeError } from '../../shared/errors.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

describe('avro codec through the schema registry', () => {
  const config = testConfig();

  /** Test subjects are deleted afterwards (soft, then permanent) so the registry does not fill up. */
  const deleteSubjectAfterTest = (subject: string) =>
    cleanup(async () => {
      await fetch(`${config.registryUrl}/subjects/${subject}`, { method: 'DELETE' });
      await fetch(`${config.registryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    });

  const schemaNamed = (namespace: string): avro.Schema => ({
    type: 'record',
    name: 'SmokeRecord',
    namespace,
    fields: [
      { name: 'id', type: 'string' },
      { name: 'count', type: 'int' },
      { name: 'note', type: ['null', 'string'], default: null },
    ],
  });

  it('registers under the record-name subject with BACKWARD and round-trips in the Confluent wire format', async () => {
    const namespace = randomName('smoke').replace('-', '_');
    deleteSubjectAfterTest(`${namespace}.SmokeRecord`);
    const writer = makeAvroCodec(config.registryUrl);
    const registered = await writer.register(schemaNamed(namespace));
    expect(registered.subject).toBe(`${namespace}.SmokeRecord`);
    // Registering the same schema again is a no-op with the same id.
    expect((await writer.register(schemaNamed(namespace))).id).toBe(registered.id);

    const subjectConfig = await fetch(`${config.registryUrl}/config/${registered.subject}`);
    expect(await subjectConfig.json()).toMatchObject({ compatibilityLevel: 'BACKWARD' });

    const bytes = writer.encode(registered, { id: 'a', count: 3, note: null });
    expect(bytes.readUInt8(0)).toBe(0);
    expect(bytes.readInt32BE(1)).toBe(registered.id);

    // A reader that never registered anything learns the schema from the registry by id.
    const reader = makeAvroCodec(config.registryUrl);
    const decoded = await reader.decode(bytes);
    expect(decoded.schemaId).toBe(registered.id);
    expect(decoded.value).toEqual({ id: 'a', count: 3, note: null });
  });

  it('refuses a change that breaks BACKWARD compatibility', async () => {
    const namespace = randomName('smoke').replace('-', '_');
    deleteSubjectAfterTest(`${namespace}.SmokeRecord`);
    const codec = makeAvroCodec(config.registryUrl);
    await codec.register(schemaNamed(namespace));
    const incompatible: avro.Schema = {
      type: 'record',
      name: 'SmokeRecord',
      namespace,
      fields: [{ name: 'required', type: 'string' }],
    };
    await expect(codec.register(incompatible)).rejects.toMatchObject({ code: 'SCHEMA_REGISTRATION_FAILED' });
  });

  it('rejects bytes that are not Confluent-framed Avro, and unknown schema ids', async () => {
    const codec = makeAvroCodec(config.registryUrl);
    await expect(codec.decode(Buffer.from('{"json":true}'))).rejects.toBeInstanceOf(DecodeError);
    const unknownId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 2]);
    await expect(codec.decode(unknownId)).rejects.toMatchObject({ name: 'DecodeError', reason: 'UNKNOWN_SCHEMA', retriable: false });
  });

  it.each([
    ['JSON', JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'string' } } })],
    ['PROTOBUF', 'syntax = "proto3";\nmessage Probe { string a = 1; }\n'],
  ])('a %s schema id of a shared registry is a DecodeError (NOT_AVRO_SCHEMA), not a retriable one, and is remembered', async (schemaType, schema) => {
    const subject = randomName(`foreign-${schemaType.toLowerCase()}`);
    deleteSubjectAfterTest(subject);
    const response = await fetch(`${config.registryUrl}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schemaType, schema }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: number };
    const framed = Buffer.alloc(8);
    framed.writeInt32BE(id, 1);
    const codec = makeAvroCodec(config.registryUrl);
    await expect(codec.decode(framed)).rejects.toMatchObject({ name: 'DecodeError', reason: 'NOT_AVRO_SCHEMA', retriable: false });
    // The answer is kept: the id's schema never changes (the subject is deleted now, and still the same answer).
    await fetch(`${config.registryUrl}/subjects/${subject}`, { method: 'DELETE' });
    await fetch(`${config.registryUrl}/subjects/${subject}?permanent=true`, { method: 'DELETE' });
    await expect(codec.decode(framed)).rejects.toMatchObject({ reason: 'NOT_AVRO_SCHEMA' });
  });

  it('an unreachable registry stays retriable', async () => {
    const codec = makeAvroCodec('http://127.0.0.1:9/apis/ccompat/v7');
    await expect(codec.decode(Buffer.from([0, 0, 0, 0, 1, 2]))).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retriable: true });
  });

  it('credentials in the registry URL go as basic auth: the codec registers and decodes, and no error shows the password', async () => {
    const namespace = randomName('creds').replace('-', '_');
    deleteSubjectAfterTest(`${namespace}.SmokeRecord`);
    const withCredentials = config.registryUrl.replace('://', '://user:s3cr3t-pass@');
    const writer = makeAvroCodec(withCredentials);
    const registered = await writer.register(schemaNamed(namespace));
    const reader = makeAvroCodec(withCredentials);
    expect((await reader.decode(writer.encode(registered, { id: 'a', count: 1, note: null }))).value).toEqual({ id: 'a', count: 1, note: null });

    const closed = makeAvroCodec('http://user:s3cr3t-pass@127.0.0.1:9/apis/ccompat/v7');
    const failures = await Promise.all([
      closed.decode(Buffer.from([0, 0, 0, 0, 1, 2])).then(() => new Error('decoded'), (error: unknown) => error as Error),
      closed.register(schemaNamed(namespace)).then(() => new Error('registered'), (error: unknown) => error as Error),
    ]);
    for (const failure of failures) {
      expect(failure).toMatchObject({ retriable: true });
      expect(failure.message).not.toContain('s3cr3t');
    }
  });
});
