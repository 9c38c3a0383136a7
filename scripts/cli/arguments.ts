// What the operator types, checked before anything connects: pure parsers for commander's
// `argParser`, each refusing with an InvalidArgumentError that says what is expected (commander
// adds the option and the value given).
import { InvalidArgumentError } from 'commander';

const digits = /^[0-9]+$/;

/** An organisation id (SPEC §3.1): a whole number greater than 0. */
export function parseOrganisationId(value: string): number {
  const id = digits.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError('An organisation id is a whole number greater than 0.');
  return id;
}

/** A customer number: the numeric string the suite assigned. */
export function parseCustomerNumber(value: string): string {
  if (value.length > 64 || !digits.test(value)) throw new InvalidArgumentError('A customer number is a string of digits (at most 64).');
  return value;
}

/** Kafka's offsets and their largest value (int64). */
const maxOffset = 2n ** 63n - 1n;

/** A Kafka offset: a whole number ≥ 0. */
export function parseOffset(value: string): bigint {
  const offset = digits.test(value) && value.length <= 19 ? BigInt(value) : -1n;
  if (offset < 0n || offset > maxOffset) throw new InvalidArgumentError('An offset is a whole number from 0.');
  return offset;
}

/** Offsets for a variadic argument: each parsed, in the order given, repeats dropped. */
export function collectOffsets(value: string, previous: bigint[] | undefined): bigint[] {
  const offset = parseOffset(value);
  const list = previous ?? [];
  return list.includes(offset) ? list : [...list, offset];
}

/** A partition number: a whole number ≥ 0. */
export function parsePartition(value: string): number {
  const partition = digits.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(partition) || partition > 2 ** 31 - 1) throw new InvalidArgumentError('A partition is a whole number from 0.');
  return partition;
}

/** The longest delay a Node.js timer keeps (a longer one fires at once). */
const maxTimerMs = 2 ** 31 - 1;

/** A timeout in milliseconds: a whole number from 1 to 2,147,483,647 (about 24.8 days). */
export function parseTimeoutMs(value: string): number {
  const ms = digits.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > maxTimerMs) throw new InvalidArgumentError(`A timeout is a whole number of milliseconds from 1 to ${maxTimerMs}.`);
  return ms;
}

// YYYY-MM-DD, optionally THH:MM[:SS[.fraction]] with Z or ±HH:MM: the suite's own dates, and
// nothing a reader could take for a local time.
const isoDate = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2})))?$/;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** A date (`2026-12-01`, midnight UTC) or an instant with its offset (`2026-12-01T08:00:00Z`, `…+01:00`). */
export function parseDate(value: string): Date {
  const refuse = () => new InvalidArgumentError('A date is YYYY-MM-DD (UTC) or an ISO 8601 instant with Z or an offset, e.g. 2026-12-01T08:00:00Z.');
  const match = value.length <= 40 ? isoDate.exec(value) : null;
  if (!match) throw refuse();
  const [, year, month, day, hour, minute, second, , offsetHours, offsetMinutes] = match.map((part) => (part === undefined ? undefined : Number(part)));
  const fieldsValid =
    month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysIn(year!, month!) &&
    (hour ?? 0) <= 23 && (minute ?? 0) <= 59 && (second ?? 0) <= 59 && (offsetHours ?? 0) <= 23 && (offsetMinutes ?? 0) <= 59;
  const date = new Date(hour === undefined ? `${value}T00:00:00Z` : value);
  if (!fieldsValid || Number.isNaN(date.getTime())) throw refuse();
  return date;
}

/**
 * A command as JSON text: an object. The error says where the JSON breaks, never quoting the
 * text (it may hold personal data).
 */
export function parseCommandText(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : '';
    const position = /at position (\d+)/.exec(reason)?.[1];
    const where =
      text.trim() === '' ? ': it is empty'
      : position !== undefined ? ` at position ${position}`
      : reason.includes('end of JSON input') ? ': it ends too early'
      : '';
    throw new InvalidArgumentError(`the command is not valid JSON${where}.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('the command must be a JSON object.');
  return parsed as Record<string, unknown>;
}

/** The Kafka key of SPEC §3.1: `<organisationId>:<customerNumber>` on an existing profile, the commandId otherwise. */
export function commandKeyOf(command: Record<string, unknown>): string {
  return command['customerNumber'] ? `${String(command['organisationId'])}:${String(command['customerNumber'])}` : String(command['commandId'] ?? '');
}

/** A request refused once the services are asked (an unknown offset, say): reported like a bad argument, with the usage exit code. */
export class UsageError extends Error {
  override name = 'UsageError';
}
