// W3C Trace Context (https://www.w3.org/TR/trace-context/) on Kafka headers (SPEC §5): a command's
// `traceparent` (and `tracestate`) is continued on its result and on every event it causes — same
// trace id, a new parent id — and a message without a valid one starts a new trace. Plain
// functions over strings; the ids come in from outside, so that decisions stay pure.
import { randomFillSync } from 'node:crypto';

export const traceparentHeader = 'traceparent';
export const tracestateHeader = 'tracestate';

/** The trace context a message carries, or is to carry: a valid version-00 `traceparent`, and its `tracestate` if any. */
export type TraceContext = { traceparent: string; tracestate?: string };

/** Where new trace ids (32 hex digits) and span ids (16 hex digits) come from. */
export type TraceIds = { traceId: () => string; spanId: () => string };

// Ids are cut from a pool of random bytes, refilled 4 KiB at a time: one call to the system's
// generator per 170 commands instead of two per command (a third of a step's decision time).
const pool = Buffer.alloc(4_096);
let used = pool.length;

const nonZeroHex = (bytes: number) => {
  for (;;) {
    if (used + bytes > pool.length) {
      randomFillSync(pool);
      used = 0;
    }
    const id = pool.toString('hex', used, used + bytes);
    used += bytes;
    if (!/^0+$/.test(id)) return id;
  }
};

/** Random ids, never all zeros (which W3C reserves as invalid). */
export const randomTraceIds: TraceIds = { traceId: () => nonZeroHex(16), spanId: () => nonZeroHex(8) };

// Fixed-length fields: linear, no backtracking.
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The parts of a valid `traceparent` (any version but ff; a future version may carry more after a `-`), or null. */
export function parseTraceparent(value: string | null | undefined): { traceId: string; parentId: string; flags: string } | null {
  if (!value || value.length < 55) return null;
  const match = traceparentPattern.exec(value);
  if (!match) return null;
  const [, version, traceId, parentId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return { traceId, parentId, flags };
}

/** Longest `tracestate` propagated (W3C: at least 512 characters must be). */
export const maxTracestateLength = 512;

/**
 * A `tracestate` fit to pass on: printable ASCII only, and at most {@link maxTracestateLength}
 * characters — a longer one loses its last list members (W3C truncates by whole entries).
 */
export function boundedTracestate(value: string | null | undefined): string | undefined {
  if (!value || !/^[\x20-\x7e]*$/.test(value)) return undefined;
  if (value.length <= maxTracestateLength) return value;
  const cut = value.lastIndexOf(',', maxTracestateLength);
  const kept = cut > 0 ? value.slice(0, cut).trim() : '';
  return kept.length > 0 ? kept : undefined;
}

/** A message's trace context from its header values, or undefined when its `traceparent` is missing or invalid (its `tracestate` then goes too). */
export function traceContextOf(traceparent: string | null, tracestate: string | null): TraceContext | undefined {
  if (!parseTraceparent(traceparent)) return undefined;
  const state = boundedTracestate(tracestate);
  return { traceparent: traceparent!, ...(state ? { tracestate: state } : {}) };
}

/**
 * The context of what a message causes: a child of `parent` (its trace id and flags, a new parent
 * id, version 00, its tracestate), or a new sampled trace when there is no parent.
 */
export function continueTrace(parent: TraceContext | undefined, ids: TraceIds): TraceContext {
  const parsed = parseTraceparent(parent?.traceparent);
  if (!parsed) return { traceparent: `00-${ids.traceId()}-${ids.spanId()}-01` };
  return { traceparent: `00-${parsed.traceId}-${ids.spanId()}-${parsed.flags}`, ...(parent?.tracestate ? { tracestate: parent.tracestate } : {}) };
}

/** Kafka headers of a message sent in `trace` (a new trace when it has none). */
export function traceHeaders(trace: TraceContext | undefined, ids: TraceIds = randomTraceIds): Record<string, string> {
  const context = trace && parseTraceparent(trace.traceparent) ? trace : continueTrace(undefined, ids);
  return { [traceparentHeader]: context.traceparent, ...(context.tracestate ? { [tracestateHeader]: context.tracestate } : {}) };
}

/** A span of the worker's own (see shared/telemetry.ts): linked to the traces of the commands it handles, parent of its phases. */
export type StepSpan = {
  /** Links the span to these commands' traces (their `traceparent`s; none or invalid: skipped). */
  link: (traces: Iterable<TraceContext | undefined>) => void;
  /** Runs `run` in a child span named `name` (ended, with its error if it throws, when `run` settles). */
  phase: <T>(name: string, run: () => Promise<T>) => Promise<T>;
};

/** Spans of the workers' steps: exported over OTLP when telemetry is on ({@link noTracing} when off). */
export type StepTracing = {
  span: <T>(name: string, attributes: Record<string, string | number>, run: (span: StepSpan) => Promise<T>) => Promise<T>;
};

const noSpan: StepSpan = { link: () => undefined, phase: (_name, run) => run() };

/** No spans at all: what the workers do when OTEL_EXPORTER_OTLP_ENDPOINT is not set (no SDK loaded). */
export const noTracing: StepTracing = { span: (_name, _attributes, run) => run(noSpan) };
