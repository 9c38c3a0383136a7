import { readFile } from 'node:fs/promises';
import avro from 'avsc';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { DecodeError, SuiteError } from './errors.ts';

/** Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body. */
const MAGIC_BYTE = 0;
const HEADER_LENGTH = 5;

export type RegisteredType = { id: number; subject: string; type: avro.Type };

export type AvroCodec = {
  /**
   * Registers a schema under its record-name subject (namespace.name), sets the subject's
   * compatibility to BACKWARD on first registration, and returns its id. Idempotent.
   */
  register: (schema: avro.Schema) => Promise<RegisteredType>;
  /** Encodes synchronously with an already registered type (no registry round trip). */
  encode: (registered: RegisteredType, value: unknown) => Buffer;
  /** Decodes any Confluent-framed Avro value; unknown writer schemas are fetched once and cached. */
  decode: (buffer: Buffer) => Promise<{ schemaId: number; value: unknown }>;
  /** Whether the bytes start like a Confluent-framed value. */
  isFramed: (buffer: Buffer) => boolean;
};

export async function readSchemaFile(path: string | URL): Promise<avro.Schema> {
  return JSON.parse(await readFile(path, 'utf8')) as avro.Schema;
}

export function makeAvroCodec(registryUrl: string): AvroCodec {
  const registry = new SchemaRegistry({ host: registryUrl, clientId: 'customer-profiles', retry: { retries: 3 } });
  const types = new Map<number, avro.Type>();
  const pending = new Map<number, Promise<avro.Type>>();

  const typeFor = (schemaId: number): Promise<avro.Type> => {
    const known = types.get(schemaId);
    if (known) return Promise.resolve(known);
    let loading = pending.get(schemaId);
    if (!loading) {
      loading = registry
        .getSchema(schemaId)
        .then((schema) => {
          // The library hands back an avsc Type for Avro schemas; rebuild from its JSON to own it.
          const type = avro.Type.forSchema(JSON.parse(JSON.stringify(schema)) as avro.Schema);
          types.set(schemaId, type);
          return type;
        })
        .finally(() => pending.delete(schemaId));
      pending.set(schemaId, loading);
    }
    return loading;
  };

  return {
    async register(schema) {
      const type = avro.Type.forSchema(schema);
      const subject = type.name;
      if (!subject) throw new SuiteError('SCHEMA_REGISTRATION_FAILED', 'only named records can be registered', { retriable: false });
      try {
        const { id } = await registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
        types.set(id, type);
        return { id, subject, type };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new SuiteError('SCHEMA_REGISTRATION_FAILED', `registering ${subject}: ${reason}`, { retriable: true, cause: error });
      }
    },

    encode(registered, value) {
      const body = registered.type.toBuffer(value);
      const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
      out.writeUInt8(MAGIC_BYTE, 0);
      out.writeInt32BE(registered.id, 1);
      body.copy(out, HEADER_LENGTH);
      return out;
    },

    async decode(buffer) {
      if (buffer.length < HEADER_LENGTH || buffer.readUInt8(0) !== MAGIC_BYTE) {
        throw new DecodeError('not a Confluent-framed Avro value (magic byte 0 and schema id expected)');
      }
      const schemaId = buffer.readInt32BE(1);
      let type: avro.Type;
      try {
        type = await typeFor(schemaId);
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status === 404) throw new DecodeError(`unknown schema id ${schemaId}`, error);
        throw new SuiteError('SERVICE_UNAVAILABLE', `schema registry: ${(error as Error).message}`, { retriable: true, cause: error });
      }
      try {
        return { schemaId, value: type.fromBuffer(buffer.subarray(HEADER_LENGTH)) };
      } catch (error) {
        throw new DecodeError(`Avro body does not match schema id ${schemaId}: ${(error as Error).message}`, error);
      }
    },

    isFramed: (buffer) => buffer.length >= HEADER_LENGTH && buffer.readUInt8(0) === MAGIC_BYTE,
  };
}
