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
    await expect(codec.decode(unknownId)).rejects.toBeInstanceOf(DecodeError);
  });
});
