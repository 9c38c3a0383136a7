// Decoding and validation of a window of messages (no state needed), and how a window is cut
// into steps: what a step takes is bounded per profile.
import type { KafkaMessage } from 'kafkajs';
import type { AvroCodec } from '../../shared/avro.ts';
import type { Batch } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import { validateCommand, type PartialMeta, type ValidationOptions } from './commands.ts';
import type { Item } from './decide.ts';
import { dlqRecordOf } from './dlq.ts';
import { limits } from './limits.ts';
import { decodeMessage } from './messages.ts';
import type { DlqRecord, LooseResult } from '../../shared/outbox.ts';

export type PrepareDeps = { codec: AvroCodec; logger: Logger; validation?: ValidationOptions };

/** A window's messages as items to decide, DLQ records, and results already known. */
export type Prepared = { items: Item[]; dlq: { order: number; record: DlqRecord }[]; loose: LooseResult[] };

/** The part of a prepared window from message `from` on, its order counted from there. */
export const suffixOf = (prepared: Prepared, from: number): Prepared => ({
  items: prepared.items.filter((item) => item.order >= from).map((item) => ({ ...item, order: item.order - from })),
  dlq: prepared.dlq.filter((entry) => entry.order >= from).map((entry) => ({ ...entry, order: entry.order - from })),
  loose: prepared.loose.filter((entry) => entry.order >= from).map((entry) => ({ ...entry, order: entry.order - from })),
});

/** The part of a prepared step before message `length` (items and DLQ records keep their order). */
export const prefixOf = (prepared: Prepared, length: number): Prepared => ({
  items: prepared.items.filter((item) => item.order < length),
  dlq: prepared.dlq.filter((entry) => entry.order < length),
  loose: prepared.loose.filter((entry) => entry.order < length),
});

/**
 * Commands decided, written and relayed together. A backlog arrives in batches of many thousands:
 * steps keep each bulk read and write, and each produce, of a bounded size.
 */
export const maxStep = 1_000;

/**
 * Commands on one profile in one step. Each accepted change keeps a full snapshot in its profile's
 * `pending` until relayed, and a profile can hold the entries of two steps (one not relayed yet,
 * after a crash): with the caps on a profile's lists a snapshot is at most about 270 KB as JSON
 * (every character of every field escaped to six bytes), so 2 × 25 of them stay under 14 MB,
 * below MongoDB's 16 MB, whatever the backlog on one customer. A step ends before the command
 * that would pass the bound; the next step takes the rest.
 */
export const maxCommandsPerProfile = 25;

/** How many of the step's messages to handle so that no profile gets more than {@link maxCommandsPerProfile}. */
export function boundedLength(items: Item[], length: number): number {
  const counts = new Map<string, number>();
  for (const item of [...items].sort((a, b) => a.order - b.order)) {
    if (item.kind !== 'command') continue;
    const { command } = item;
    const targets = [command.customerNumber, command.type === 'MergeTemporaryProfile' ? command.payload.permanentCustomerNumber : null];
    for (const target of targets) {
      if (target === null) continue;
      const count = (counts.get(target) ?? 0) + 1;
      if (count > maxCommandsPerProfile) return item.order;
      counts.set(target, count);
    }
  }
  return length;
}

const keyOf = (message: KafkaMessage) => message.key?.toString('utf8') ?? null;

/** Decoding and validation: no state needed. */
export async function prepare(batch: Batch, now: Date, deps: PrepareDeps): Promise<Prepared> {
  const { codec, logger } = deps;
  const prepared: Prepared = { items: [], dlq: [], loose: [] };
  for (const [order, message] of batch.messages.entries()) {
    const decoded = await decodeMessage(message, batch, codec);
    const key = message.key && message.key.length > limits.keyBytes ? null : keyOf(message);
    // The message's trace context, continued on what it causes (decide.ts).
    const traced = decoded.trace ? { trace: decoded.trace } : {};
    if (decoded.kind === 'undecodable') {
      prepared.dlq.push({ order, record: dlqRecordOf(message, batch, { code: decoded.code, message: decoded.message }) });
      logger.warn({ code: decoded.code, topic: batch.topic, partition: batch.partition, offset: message.offset, correlationId: decoded.headers.correlationId }, 'undecodable command sent to the DLQ');
      if (decoded.commandId !== null) {
        const meta: PartialMeta = { commandId: decoded.commandId, organisationId: null, customerNumber: null, commandType: null };
        prepared.items.push({ kind: 'rejected', order, key, meta, correlationId: decoded.headers.correlationId, clientName: decoded.headers.clientName, code: decoded.resultCode, message: `undecodable: ${decoded.message}`, ...traced });
      }
      continue;
    }
    // "In the future" is judged at the time the command was sent (its Kafka timestamp), not when
    // it is processed: a redelivery after the date must be recognised as the command it was, not
    // rejected where its first delivery was accepted.
    const sentAt = Number(message.timestamp);
    const validation = validateCommand(decoded.raw, decoded.headers, Number.isFinite(sentAt) && sentAt > 0 ? new Date(Math.min(sentAt, now.getTime())) : now, deps.validation);
    if (validation.ok && message.key && message.key.length > limits.keyBytes) {
      // The key is kept with the command's outcome and keys its result: bounded, or the outcome
      // could outgrow what MongoDB stores. Answered without it.
      const { command } = validation;
      const meta: PartialMeta = { commandId: command.commandId, organisationId: command.organisationId, customerNumber: command.customerNumber, commandType: command.type };
      prepared.items.push({ kind: 'rejected', order, key: null, meta, correlationId: command.correlationId, clientName: command.clientName, code: 'LIMIT_EXCEEDED', message: `Kafka key: at most ${limits.keyBytes} bytes`, ...traced });
    } else if (validation.ok) {
      prepared.items.push({ kind: 'command', order, key, command: validation.command, ...traced });
    } else if (validation.meta.commandId !== null) {
      const { rejection, meta } = validation;
      prepared.items.push({ kind: 'rejected', order, key, meta, correlationId: decoded.headers.correlationId, clientName: decoded.headers.clientName, code: rejection.code, message: rejection.message, ...traced });
    } else {
      // Without a commandId nobody can be answered: the DLQ tells the operators.
      prepared.dlq.push({ order, record: dlqRecordOf(message, batch, { code: validation.rejection.code, message: validation.rejection.message }) });
    }
  }
  return prepared;
}
