import { readFile } from 'node:fs/promises';
import avro from 'avsc';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { DecodeError, SuiteError } from './errors.ts';
import { fetchWithCredentials, redactSecrets, secretsOf, splitCredentials } from './serviceUrls.ts';

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

/** Why a schema id cannot decode a command (the DLQ's `error-code`). */
export type SchemaProblem = 'UNKNOWN_SCHEMA' | 'NOT_AVRO_SCHEMA';

/** Time an "unknown schema id" answer is remembered: a flood of made-up ids costs one request each per minute. */
const unknownIdTtlMs = 60_000;

export function makeAvroCodec(registryUrl: string): AvroCodec {
  // Credentials in the URL go as basic auth (fetch refuses them in the URL, quoting it in its error).
  const { url: host, username, password } = splitCredentials(registryUrl);
  const secrets = secretsOf([registryUrl]);
  const registry = new SchemaRegistry({ host, clientId: 'customer-profiles', retry: { retries: 3 }, ...(username || password ? { auth: { username, password } } : {}) });
  const types = new Map<number, avro.Type>();
  /** Ids that will never decode: not Avro (an id's schema never changes), or unknown (for a while). */
  const refused = new Map<number, { error: DecodeError; until: number }>();
  const maxRefusedIds = 10_000;
  const pending = new Map<number, Promise<avro.Type>>();
  const unavailable = (what: string, error: unknown) =>
    new SuiteError('SERVICE_UNAVAILABLE', `schema registry: ${what}: ${redactSecrets(error instanceof Error ? error.message : String(error), secrets)}`, { retriable: true, cause: error });

  /**
   * The schema of an id, read raw (not through the library, which would build JSON Schema and
   * Protobuf validators for a shared registry's other ids). Only an unreachable registry or a 5xx
   * is worth retrying; an unknown id or a schema that is not Avro never will be.
   */
  const load = async (schemaId: number): Promise<avro.Type> => {
    let response: Response;
    try {
      response = await fetchWithCredentials(`${registryUrl}/schemas/ids/${schemaId}`, { signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw unavailable(`fetching schema id ${schemaId}`, error);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new DecodeError(`unknown schema id ${schemaId}`, undefined, 'UNKNOWN_SCHEMA');
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw unavailable(`fetching schema id ${schemaId}`, new Error(`answered ${response.status}`));
    }
    const found = (await response.json().catch(() => null)) as { schema?: unknown; schemaType?: unknown } | null;
    const schemaType = found?.schemaType ?? 'AVRO'; // Confluent omits it for Avro
    if (schemaType !== 'AVRO') throw new DecodeError(`schema id ${schemaId} is a ${String(schemaType).slice(0, 16)} schema, not Avro`, undefined, 'NOT_AVRO_SCHEMA');
    try {
      return avro.Type.forSchema(JSON.parse(String(found?.schema)) as avro.Schema);
    } catch (error) {
      // References to other subjects are not supported either: the suite's own schemas have none.
      throw new DecodeError(`schema id ${schemaId} is not an Avro schema this codec can read`, error, 'NOT_AVRO_SCHEMA');
    }
  };

  const typeFor = (schemaId: number): Promise<avro.Type> => {
    const known = types.get(schemaId);
    if (known) return Promise.resolve(known);
    const refusal = refused.get(schemaId);
    if (refusal && refusal.until > Date.now()) return Promise.reject(refusal.error);
    let loading = pending.get(schemaId);
    if (!loading) {
      loading = load(schemaId)
        .then(
          (type) => {
            types.set(schemaId, type);
            return type;
          },
          (error: unknown) => {
            if (error instanceof DecodeError) {
              // Bounded: a flood of random ids must not grow the process; the oldest answer goes first.
              if (refused.size >= maxRefusedIds) refused.delete(refused.keys().next().value!);
              refused.set(schemaId, { error, until: error.reason === 'UNKNOWN_SCHEMA' ? Date.now() + unknownIdTtlMs : Infinity });
            }
            throw error;
          },
        )
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
        const reason = redactSecrets(error instanceof Error ? error.message : String(error), secrets);
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
        throw new DecodeError('not a Confluent-framed Avro value (magic byte 0 and schema id expected)', undefined, 'MALFORMED_AVRO');
      }
      const schemaId = buffer.readInt32BE(1);
      const type = await typeFor(schemaId);
      try {
        return { schemaId, value: type.fromBuffer(buffer.subarray(HEADER_LENGTH)) };
      } catch (error) {
        throw new DecodeError(`Avro body does not match schema id ${schemaId}: ${(error as Error).message}`, error, 'MALFORMED_AVRO');
      }
    },

    isFramed: (buffer) => buffer.length >= HEADER_LENGTH && buffer.readUInt8(0) === MAGIC_BYTE,
  };
}
