// The DLQ copy of a message (SPEC §3.3): the original key, value and headers, plus why and where
// from. A copy must fit the DLQ topic's max.message.bytes: the original may be near the command
// topic's limit, carry hundreds of thousands of headers, and the error headers come on top.
import type { KafkaMessage, Message } from 'kafkajs';
import { recordSize } from '../../shared/kafka.ts';
import type { DlqRecord } from '../../shared/outbox.ts';

/** Original headers copied at most (a message may carry ~300,000 within 1 MB). */
export const maxDlqHeaders = 1_000;
/** Bytes of original headers copied at most. */
export const maxDlqHeaderBytes = 64 * 1024;
/** Longest `error-message`. */
const maxErrorMessageLength = 1_024;
/** Longest key kept when a copy must be shortened (a client chose it; 1 MB is possible). */
const maxKeyBytes = 1_024;

type HeaderValue = Buffer | string;

/** Sets a header, `__proto__` included (a plain assignment would change the prototype instead). */
const setHeader = (headers: Record<string, HeaderValue>, name: string, value: HeaderValue) => {
  Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
};

const byteLength = (value: HeaderValue) => (typeof value === 'string' ? Buffer.byteLength(value) : value.length);

/**
 * The DLQ record of a message that cannot be handled. Its own headers come first, at most
 * {@link maxDlqHeaders} / {@link maxDlqHeaderBytes} of them (`error-headers-dropped` counts the
 * rest; a repeated header keeps its first value), then `error-code`, `error-message`,
 * `original-topic`, `original-partition`, `original-offset`. Linear in the number of headers.
 */
export function dlqRecordOf(message: KafkaMessage, where: { topic: string; partition: number }, error: { code: string; message: string }): DlqRecord {
  const headers: Record<string, HeaderValue> = {};
  const original = message.headers ?? {};
  const names = Object.keys(original);
  let copied = 0;
  let bytes = 0;
  for (const name of names) {
    // A client's header named like one the suite adds would pass for the suite's: left out, counted.
    if (suiteHeaders.has(name)) continue;
    const raw = original[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    const size = Buffer.byteLength(name) + byteLength(value);
    if (copied >= maxDlqHeaders || bytes + size > maxDlqHeaderBytes) break;
    setHeader(headers, name, value);
    copied++;
    bytes += size;
  }
  const dropped = names.length - copied;
  if (dropped > 0) setHeader(headers, 'error-headers-dropped', String(dropped));
  setHeader(headers, 'error-code', error.code);
  setHeader(headers, 'error-message', error.message.slice(0, maxErrorMessageLength));
  setHeader(headers, 'original-topic', where.topic);
  setHeader(headers, 'original-partition', String(where.partition));
  setHeader(headers, 'original-offset', message.offset);
  return { key: message.key, value: message.value, headers };
}

/** Headers the suite adds to a DLQ copy: kept when a copy is shortened. */
const ownHeaders = new Set(['error-code', 'error-message', 'original-topic', 'original-partition', 'original-offset', 'error-headers-dropped']);
/** Every header the suite may add to a DLQ copy (what a replay leaves out: scripts/cli/dlq.ts). */
export const suiteHeaders: ReadonlySet<string> = new Set([...ownHeaders, 'error-truncated', 'error-key-truncated']);

/**
 * A DLQ copy that fits `budget` bytes: the suite's headers kept, the original headers dropped,
 * a key over 1 KiB cut, then the value cut to what is left. `error-truncated` gives the original
 * value's size, `error-headers-dropped` the number of headers left out. Null when even that cannot
 * fit (a budget below a few kilobytes).
 */
export function fitDlqRecord(message: Message, budget: number): Message | null {
  const headers: Record<string, HeaderValue> = {};
  const given = message.headers ?? {};
  let droppedHeaders = Number(given['error-headers-dropped'] ?? 0);
  for (const name of Object.keys(given)) {
    const value = given[name];
    if (ownHeaders.has(name) && (typeof value === 'string' || Buffer.isBuffer(value))) setHeader(headers, name, value);
    else droppedHeaders++;
  }
  if (droppedHeaders > 0) setHeader(headers, 'error-headers-dropped', String(droppedHeaders));
  const value = message.value == null ? null : Buffer.isBuffer(message.value) ? message.value : Buffer.from(message.value);
  setHeader(headers, 'error-truncated', String(value?.length ?? 0));
  const key = message.key == null ? null : Buffer.isBuffer(message.key) ? message.key : Buffer.from(message.key);
  const fittedKey = key && key.length > maxKeyBytes ? key.subarray(0, maxKeyBytes) : key;
  if (fittedKey !== key) setHeader(headers, 'error-key-truncated', String(key!.length));
  const room = budget - recordSize({ key: fittedKey, value: null, headers });
  if (room < 0) return null;
  return { key: fittedKey, value: value ? value.subarray(0, Math.min(value.length, room)) : null, headers };
}
