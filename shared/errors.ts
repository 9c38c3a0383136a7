/** Stable codes of errors raised by the suite's adapters and start-up. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'SCHEMA_REGISTRATION_FAILED'
  | 'DECODE_FAILED'
  | 'HANDLER_FAILED'
  | 'MESSAGE_TOO_LARGE'
  | 'SERVICE_UNAVAILABLE';

/**
 * Base class of the suite's errors. `retriable` tells a caller whether doing the same thing again
 * may succeed (a broker away) or never will (a malformed message).
 */
export class SuiteError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable;
  }
}

/** A bad or missing environment variable; the message names it. Never retriable. */
export class ConfigError extends SuiteError {
  constructor(message: string) {
    super('CONFIG_INVALID', message, { retriable: false });
  }
}

/** Why bytes could not be decoded, when the decoder knows (the DLQ's `error-code`). */
export type DecodeReason = 'MALFORMED_AVRO' | 'UNKNOWN_SCHEMA' | 'NOT_AVRO_SCHEMA';

/** Bytes that cannot be turned into a record (not Avro, unknown schema id, not JSON). */
export class DecodeError extends SuiteError {
  readonly reason: DecodeReason;

  constructor(message: string, cause?: unknown, reason: DecodeReason = 'MALFORMED_AVRO') {
    super('DECODE_FAILED', message, { retriable: false, cause });
    this.reason = reason;
  }
}

/** A consumer's handler failed on a batch; carries where, so a log line can point at it. */
export class HandlerError extends SuiteError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;

  constructor(where: { topic: string; partition: number; offset: string }, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('HANDLER_FAILED', `handler failed at ${where.topic}[${where.partition}]@${where.offset}: ${reason}`, {
      retriable: !(cause instanceof SuiteError) || cause.retriable,
      cause,
    });
    this.topic = where.topic;
    this.partition = where.partition;
    this.offset = where.offset;
  }
}

/**
 * A message that cannot fit its topic's `max.message.bytes` and has no smaller form (an event: it
 * carries the whole profile). Nothing of its produce was sent. The message names the topic and the
 * key's first characters (ids), never the value.
 */
export class OversizedMessageError extends SuiteError {
  readonly topic: string;

  constructor(topic: string, key: Buffer | string | null | undefined, size: number, budget: number) {
    const shownKey = key == null ? 'none' : String(key).slice(0, 64);
    super('MESSAGE_TOO_LARGE', `a message for ${topic} (key ${shownKey}) takes ${size} bytes, more than the ${budget} its max.message.bytes allows`, { retriable: false });
    this.topic = topic;
  }
}
