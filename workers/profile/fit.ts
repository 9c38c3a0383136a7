// What the profile worker produces must fit each topic's max.message.bytes (SPEC §3.4), or the
// broker refuses it and the partition that produced it stops for good. The inputs are bounded
// where they enter (commands, profile caps); this is the last resort for what still does not fit.
import type { Message } from 'kafkajs';
import type { AvroCodec, RegisteredType } from '../../shared/avro.ts';
import { recordSize, type SendOptions } from '../../shared/kafka.ts';
import type { Topics } from '../../shared/topics.ts';
import { tracestateHeader } from '../../shared/tracing.ts';
import { fitDlqRecord } from './dlq.ts';
import type { CommandResult } from './model.ts';

/** The message of a result that had to be shortened. */
export const shortenedResultMessage = "the result's message was left out: it did not fit the results topic's maximum message size";

/** Confluent wire format header: magic byte and schema id. */
const framing = 5;

/**
 * A result that fits: same status, code and ids, its message replaced by a short one, the client
 * name cut to 128 characters; if still too large, keyed by its commandId instead of the command's
 * key (a client may choose a key of almost 1 MB). Null when nothing fits.
 */
export function fitResult(message: Message, budget: number, deps: { codec: AvroCodec; result: RegisteredType }): Message | null {
  if (!Buffer.isBuffer(message.value)) return null;
  const result = deps.result.type.fromBuffer(message.value.subarray(framing)) as CommandResult;
  const short: CommandResult = { ...result, message: shortenedResultMessage, clientName: result.clientName?.slice(0, 128) ?? null, commandType: result.commandType?.slice(0, 64) ?? null };
  // A tracestate is bounded where it enters, and cut only between its members (shared/tracing.ts).
  const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, typeof value === 'string' && name !== tracestateHeader ? value.slice(0, 256) : value]));
  const fitted: Message = { key: message.key, value: deps.codec.encode(deps.result, short), headers };
  if (recordSize(fitted) <= budget) return fitted;
  const rekeyed: Message = { ...fitted, key: result.commandId.slice(0, 128) };
  return recordSize(rekeyed) <= budget ? rekeyed : null;
}

/**
 * The `fit` of the profile worker's produce: results are shortened, DLQ copies truncated; events
 * are not (an event carries the whole profile, and a partial one would mislead every subscriber):
 * one that does not fit fails the batch with an error naming the customer. The caps on every list
 * a profile holds keep that from happening.
 */
export function makeFit(deps: { topics: Pick<Topics, 'results' | 'dlq'>; codec: AvroCodec; result: RegisteredType }): NonNullable<SendOptions['fit']> {
  return (topic, message, budget) => {
    if (topic === deps.topics.dlq) return fitDlqRecord(message, budget);
    if (topic === deps.topics.results) return fitResult(message, budget, deps);
    return null;
  };
}
