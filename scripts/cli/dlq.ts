// `profiles dlq list` and `profiles dlq replay`: the DLQ holds clients' raw bytes, which may be
// personal data, so a listing shows what the suite wrote about a record (its error headers), its
// size and the names of the client's headers — the bytes themselves only when asked (--values,
// base64). A replay sends records back to the command topic once the cause is fixed, as the
// client sent them (key, value, the client's headers), marked with where they came from.
import type { IHeaders, Message } from 'kafkajs';
import { makeProducer, type KafkaMessage } from '../../shared/kafka.ts';
import { readToEnd } from '../../shared/topicReader.ts';
import { suiteHeaders } from '../../workers/profile/dlq.ts';
import { UsageError } from './arguments.ts';
import { openSession, printLine } from './session.ts';

/** The header a replayed record carries: `<dlq topic>/<partition>/<offset>` it was replayed from. */
export const replayedFromHeader = 'replayed-from-dlq';

/** Client headers whose values the suite itself logs (ids, not personal data), up to this many characters. */
const knownClientHeaders = { clientName: 'ET-Client-Name', correlationId: 'X-Correlation-Id' } as const;
const maxShownHeaderLength = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header's first value as bytes (KafkaJS may give a string, a Buffer or a list of either). */
function headerBytes(value: IHeaders[string]): Buffer | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first : Buffer.from(first);
}

/** Text when the bytes are UTF-8, else undefined. */
function textOf(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export type DlqEntry = {
  partition: number;
  offset: string;
  timestamp: string;
  /** The original key as text, or null (no key, or not UTF-8: then `keyBase64`). */
  key: string | null;
  keyBase64?: string;
  /** Bytes of the value the DLQ holds (`error-truncated` in errorHeaders: the original's size). */
  size: number;
  /** What the suite wrote: error-code, error-message, original-topic/-partition/-offset, and any truncation. */
  errorHeaders: Record<string, string>;
  clientName: string | null;
  correlationId: string | null;
  /** Names of the client's headers kept in the copy. */
  clientHeaders: string[];
  /** With --values only: the value and the client's header values, base64. */
  value?: string | null;
  clientHeaderValues?: Record<string, string>;
};

/** One DLQ record as listed: never the client's bytes unless `values` is set. */
export function dlqEntryOf(partition: number, message: KafkaMessage, options: { values: boolean }): DlqEntry {
  const errorHeaders: Record<string, string> = {};
  const clientHeaders: string[] = [];
  const clientHeaderValues: Record<string, string> = {};
  for (const [name, raw] of Object.entries(message.headers ?? {})) {
    const bytes = headerBytes(raw);
    if (bytes === undefined) continue;
    if (suiteHeaders.has(name)) errorHeaders[name] = bytes.toString('utf8');
    else {
      clientHeaders.push(name);
      clientHeaderValues[name] = bytes.toString('base64');
    }
  }
  const shown = (name: string) => {
    const bytes = headerBytes(message.headers?.[name]);
    return bytes === undefined ? null : (textOf(bytes)?.slice(0, maxShownHeaderLength) ?? null);
  };
  const keyText = message.key ? textOf(message.key) : undefined;
  return {
    partition,
    offset: message.offset,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    key: keyText ?? null,
    ...(message.key && keyText === undefined ? { keyBase64: message.key.toString('base64') } : {}),
    size: message.value?.length ?? 0,
    errorHeaders,
    clientName: shown(knownClientHeaders.clientName),
    correlationId: shown(knownClientHeaders.correlationId),
    clientHeaders,
    ...(options.values ? { value: message.value?.toString('base64') ?? null, clientHeaderValues } : {}),
  };
}

/**
 * Why a DLQ record cannot be replayed as the client sent it, or null: a copy cut to fit the DLQ
 * (its value or key is not the original), or one that came from another topic.
 */
export function replayRefusal(message: KafkaMessage, commandTopic: string): string | null {
  const header = (name: string) => headerBytes(message.headers?.[name])?.toString('utf8');
  if (header('error-truncated') !== undefined) return `its value was cut to fit the DLQ (originally ${header('error-truncated')} bytes)`;
  if (header('error-key-truncated') !== undefined) return `its key was cut to fit the DLQ (originally ${header('error-key-truncated')} bytes)`;
  const from = header('original-topic');
  if (from !== undefined && from !== commandTopic) return `it came from ${from}, not ${commandTopic}`;
  return null;
}

/** The record to send again: the original key and value, the client's headers (not the suite's), and where it was replayed from. */
export function replayMessageOf(message: KafkaMessage, from: { topic: string; partition: number }): Message {
  const headers: IHeaders = {};
  for (const [name, raw] of Object.entries(message.headers ?? {})) {
    const bytes = headerBytes(raw);
    // A header named `__proto__` is a header like any other: defined, not assigned.
    if (bytes !== undefined && !suiteHeaders.has(name) && name !== replayedFromHeader) Object.defineProperty(headers, name, { value: bytes, enumerable: true, writable: true, configurable: true });
  }
  headers[replayedFromHeader] = `${from.topic}/${from.partition}/${message.offset}`;
  return { key: message.key, value: message.value, headers };
}

export async function listDlq(options: { since?: Date; code?: string; values: boolean }): Promise<void> {
  const { kafka, names } = openSession('dlq');
  const records = await readToEnd(kafka, [names.dlq], options.since ? { fromTimestamp: options.since.getTime() } : {});
  for (const { partition, message } of records) {
    const entry = dlqEntryOf(partition, message, { values: options.values });
    if (options.code === undefined || entry.errorHeaders['error-code'] === options.code) printLine(entry);
  }
}

/**
 * Sends the DLQ records at these offsets of one partition back to the command topic, in offset
 * order. Every offset is checked first: an unknown one, or a record that cannot be replayed,
 * refuses the whole replay (a {@link UsageError}) and nothing is sent.
 */
export async function replayDlq(options: { partition: number; offsets: bigint[] }): Promise<void> {
  const { kafka, names } = openSession('dlq');
  const admin = kafka.admin();
  await admin.connect();
  let range: { low: bigint; high: bigint };
  try {
    if (!(await admin.listTopics()).includes(names.dlq)) throw new UsageError(`${names.dlq} does not exist: nothing has gone to the DLQ (or PROFILES_ENV is not the suite's)`);
    const partitions = await admin.fetchTopicOffsets(names.dlq);
    const found = partitions.find(({ partition }) => partition === options.partition);
    if (!found) throw new UsageError(`${names.dlq} has no partition ${options.partition} (partitions: ${partitions.map(({ partition }) => partition).join(', ')})`);
    range = { low: BigInt(found.low), high: BigInt(found.high) };
  } finally {
    await admin.disconnect();
  }
  const place = `${names.dlq}/${options.partition}`;
  const holds = range.high > range.low ? `it holds offsets ${range.low} to ${range.high - 1n}` : 'it is empty';
  const wanted = [...new Set(options.offsets)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const outside = wanted.filter((offset) => offset < range.low || offset >= range.high);
  if (outside.length > 0) throw new UsageError(`unknown offset${outside.length > 1 ? 's' : ''} ${outside.join(', ')} in ${place}: ${holds}`);

  const read = await readToEnd(kafka, [names.dlq], { startOffsets: [{ topic: names.dlq, partition: options.partition, offset: wanted[0]! }] });
  const byOffset = new Map(read.filter(({ partition }) => partition === options.partition).map(({ message }) => [BigInt(message.offset), message]));
  const missing = wanted.filter((offset) => !byOffset.has(offset));
  if (missing.length > 0) throw new UsageError(`no record at offset${missing.length > 1 ? 's' : ''} ${missing.join(', ')} in ${place} (${holds}; gone with retention?)`);
  const refused = wanted.flatMap((offset) => {
    const reason = replayRefusal(byOffset.get(offset)!, names.commands);
    return reason ? [`${offset}: ${reason}`] : [];
  });
  if (refused.length > 0) throw new UsageError(`cannot replay from ${place}: ${refused.join('; ')}`);

  const producer = makeProducer(kafka);
  await producer.connect();
  try {
    for (const offset of wanted) {
      const message = byOffset.get(offset)!;
      const dropped = headerBytes(message.headers?.['error-headers-dropped'])?.toString('utf8');
      if (dropped !== undefined) console.error(`${place}/${offset}: ${dropped} of the client's headers were not kept in the DLQ copy; replayed without them`);
      const [sent] = await producer.send({ topic: names.commands, acks: -1, messages: [replayMessageOf(message, { topic: names.dlq, partition: options.partition })] });
      printLine({ replayed: `${place}/${offset}`, key: message.key ? (textOf(message.key) ?? null) : null, topic: names.commands, partition: sent?.partition, offset: sent?.baseOffset });
    }
  } finally {
    await producer.disconnect();
  }
}
