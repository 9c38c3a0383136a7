// From a Kafka message to a command object and its headers, or to the reason it cannot be read.
import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import type { AvroCodec } from '../../shared/avro.ts';
import { DecodeError } from '../../shared/errors.ts';
import { clientNameHeader, correlationIdHeader } from '../../shared/topics.ts';
import { maxTracestateLength, traceContextOf, traceparentHeader, tracestateHeader, type TraceContext } from '../../shared/tracing.ts';
import { checkCommandSize, type CommandHeaders } from './commands.ts';
import type { RejectionCode } from './model.ts';


/** Why a message went to the DLQ (the `error-code` header). */
export type UndecodableCode = 'EMPTY_MESSAGE' | 'TOO_LARGE' | 'MALFORMED_UTF8' | 'MALFORMED_JSON' | 'NOT_AN_OBJECT' | 'MALFORMED_AVRO' | 'UNKNOWN_SCHEMA' | 'NOT_AVRO_SCHEMA';

export type Decoded =
  | { kind: 'command'; raw: unknown; headers: CommandHeaders; trace?: TraceContext }
  | {
      kind: 'undecodable';
      /** The message's valid trace context (continued on its result), if it has one. */
      trace?: TraceContext;
      code: UndecodableCode;
      message: string;
      commandId: string | null;
      headers: CommandHeaders;
      /** The code of the REJECTED result when a commandId could be read: LIMIT_EXCEEDED for a command too large, INVALID_COMMAND otherwise. */
      resultCode: RejectionCode;
    };

/** Longest header value read: the suite's headers are short, a hostile one may be 1 MB. */
const maxHeaderValueLength = 256;

/**
 * Reads a header case-insensitively (clients differ in how they spell them), at most
 * {@link maxHeaderValueLength} characters of it. Linear in the number of headers: a message may
 * carry hundreds of thousands.
 */
export function headerValue(message: Pick<KafkaMessage, 'headers'>, name: string, maxLength = maxHeaderValueLength): string | null {
  const headers = message.headers ?? {};
  const wanted = name.toLowerCase();
  const key = Object.hasOwn(headers, name) ? name : Object.keys(headers).find((candidate) => candidate.toLowerCase() === wanted);
  if (key === undefined) return null;
  const value = headers[key];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return null;
  // Only a bounded prefix is decoded (4 bytes at most per character).
  const text = (typeof first === 'string' ? first.slice(0, 4 * maxLength) : first.subarray(0, 4 * maxLength).toString('utf8')).trim();
  return text.length > 0 ? text.slice(0, maxLength) : null;
}

/**
 * The correlation id: the header's, or one derived from the command (or the message position), so
 * that a redelivered command gets the same one.
 */
function correlationIdOf(message: KafkaMessage, where: string): string {
  const given = headerValue(message, correlationIdHeader);
  if (given) return given.slice(0, 128);
  return `gen-${createHash('sha256').update(where).digest('hex').slice(0, 32)}`;
}

// Linear: a literal prefix, and alternatives that cannot both match one character, bounded to 128.
const commandIdPattern = /"commandId"\s*:\s*"((?:[^"\\]|\\.){1,128})"/;

/** Invalid UTF-8 is an error, not silently replaced (SPEC §3.1: a command is UTF-8). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Whether avsc (which decodes strings leniently, like Buffer#toString) replaced invalid UTF-8 in one
 * of these strings: a U+FFFD that is not in the original bytes was made up by the decoder.
 */
const replacedInvalidUtf8 = (strings: readonly (string | null)[], bytes: Buffer) =>
  strings.some((value) => value !== null && value.includes('\uFFFD') && !bytes.includes(Buffer.from(value, 'utf8')));

/** The shape an Avro-encoded command decodes to (schemas/CustomerCommand.avsc). */
type AvroCommand = { commandId: string; type: string; organisationId: number; customerNumber: string | null; payload: string };

const looksLikeAvroCommand = (value: unknown): value is AvroCommand =>
  value !== null && typeof value === 'object' && typeof (value as AvroCommand).commandId === 'string' && typeof (value as AvroCommand).payload === 'string';

export async function decodeMessage(message: KafkaMessage, position: { topic: string; partition: number }, codec: AvroCodec): Promise<Decoded> {
  const place = `${position.topic}/${position.partition}/${message.offset}`;
  const clientName = headerValue(message, clientNameHeader);
  const headersFor = (commandId: string | null): CommandHeaders => ({ clientName, correlationId: correlationIdOf(message, commandId ?? place) });
  // One character more than is kept: a longer tracestate loses its last members, not a part of one.
  const trace = traceContextOf(headerValue(message, traceparentHeader), headerValue(message, tracestateHeader, maxTracestateLength + 1));
  const traced = trace ? { trace } : {};
  const undecodable = (code: UndecodableCode, text: string, commandId: string | null = null): Decoded => ({
    kind: 'undecodable',
    ...traced,
    code,
    message: text,
    commandId,
    headers: headersFor(commandId),
    resultCode: code === 'TOO_LARGE' ? 'LIMIT_EXCEEDED' : 'INVALID_COMMAND',
  });

  const value = message.value;
  if (!value || value.length === 0) return undecodable('EMPTY_MESSAGE', 'the message has no value');
  const tooLarge = checkCommandSize(value.length);
  if (tooLarge) {
    // Not decoded: only its start is searched for a commandId, so that the sender is answered.
    const start = value.subarray(0, 4_096).toString('utf8');
    return undecodable('TOO_LARGE', tooLarge.message, codec.isFramed(value) ? null : (commandIdPattern.exec(start)?.[1] ?? null));
  }

  if (codec.isFramed(value)) {
    let decoded: unknown;
    try {
      decoded = (await codec.decode(value)).value;
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error; // the registry is away: retry the batch
      const schemaId = value.readInt32BE(1);
      // avsc's own message may quote field values: only the schema id is passed on.
      const text = { UNKNOWN_SCHEMA: `unknown schema id ${schemaId}`, NOT_AVRO_SCHEMA: `schema id ${schemaId} is not an Avro schema`, MALFORMED_AVRO: `Avro body does not match schema id ${schemaId}` }[error.reason];
      return undecodable(error.reason, text);
    }
    if (!looksLikeAvroCommand(decoded)) return undecodable('MALFORMED_AVRO', 'the Avro record is not a CustomerCommand');
    if (replacedInvalidUtf8([decoded.commandId, decoded.type, decoded.customerNumber, decoded.payload], value)) {
      const { commandId } = decoded;
      const readable = commandId.length > 0 && commandId.length <= 128 && !commandId.includes('\uFFFD');
      return undecodable('MALFORMED_UTF8', 'a string of the Avro record is not valid UTF-8', readable ? commandId : null);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(decoded.payload);
    } catch {
      payload = decoded.payload; // validation names the field
    }
    const raw = { commandId: decoded.commandId, type: decoded.type, organisationId: decoded.organisationId, payload, ...(decoded.customerNumber !== null ? { customerNumber: decoded.customerNumber } : {}) };
    return { kind: 'command', raw, headers: headersFor(decoded.commandId), ...traced };
  }

  let text: string;
  try {
    text = strictUtf8.decode(value);
  } catch {
    return undecodable('MALFORMED_UTF8', 'not valid UTF-8', commandIdPattern.exec(value.toString('utf8'))?.[1] ?? null);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Still try to answer the sender: a commandId may be readable in broken JSON. The parser's own
    // message quotes the input, which may hold personal data: it is not passed on.
    const commandId = commandIdPattern.exec(text)?.[1] ?? null;
    return undecodable('MALFORMED_JSON', 'not valid JSON', commandId);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return undecodable('NOT_AN_OBJECT', 'a command must be a JSON object');
  }
  const commandId = (parsed as { commandId?: unknown }).commandId;
  return { kind: 'command', raw: parsed, headers: headersFor(typeof commandId === 'string' ? commandId : null), ...traced };
}
