import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { boundedTracestate, continueTrace, maxTracestateLength, parseTraceparent, randomTraceIds, traceContextOf, traceHeaders, type TraceIds } from '../../shared/tracing.ts';

const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ids: TraceIds = { traceId: () => 'a'.repeat(32), spanId: () => 'b'.repeat(16) };

describe('parseTraceparent (W3C Trace Context)', () => {
  it('given a version-00 traceparent, then its parts', () => {
    expect(parseTraceparent(valid)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' });
  });

  it.each([
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['version 00 with more after it', `${valid}-extra`],
    ['too short', '00-4bf92f3577b34da6-00f067aa0ba902b7-01'],
  ])('given %s, then invalid', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('given a future version with more fields, then its known parts', () => {
    expect(parseTraceparent('cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next')?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('given any string, then it answers in linear time and never throws', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (value) => {
      const parsed = parseTraceparent(value);
      if (parsed) expect(value).toContain(parsed.traceId);
    }));
  });
});

describe('continueTrace', () => {
  it('given a parent, then the same trace id and flags, a new parent id, version 00 and its tracestate', () => {
    expect(continueTrace({ traceparent: valid, tracestate: 'v=1' }, ids)).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'b'.repeat(16)}-01`, tracestate: 'v=1' });
  });

  it('given no parent, or an invalid one, then a new sampled trace', () => {
    expect(continueTrace(undefined, ids)).toEqual({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
    expect(continueTrace({ traceparent: 'junk' }, ids)).toEqual({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
  });

  it('given no trace context, then the headers of a new trace with random ids', () => {
    const first = traceHeaders(undefined);
    const second = traceHeaders(undefined);
    expect(first['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(first['traceparent']).not.toBe(second['traceparent']);
  });
});

describe('randomTraceIds', () => {
  it('given many ids, more than one pool of random bytes holds, then each is new, hex and of its length', () => {
    const traceIds = Array.from({ length: 1_000 }, () => randomTraceIds.traceId());
    const spanIds = Array.from({ length: 1_000 }, () => randomTraceIds.spanId());
    expect(new Set(traceIds).size).toBe(1_000);
    expect(new Set(spanIds).size).toBe(1_000);
    for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spanIds) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('traceContextOf', () => {
  it('given an invalid traceparent, then no context: its tracestate is dropped with it', () => {
    expect(traceContextOf('junk', 'v=1')).toBeUndefined();
    expect(traceContextOf(null, 'v=1')).toBeUndefined();
  });

  it('given a tracestate longer than the bound, then it loses whole members from its end', () => {
    const members = Array.from({ length: 40 }, (_, index) => `vendor${index}=${'x'.repeat(10)}`).join(',');
    const bounded = boundedTracestate(members)!;
    expect(bounded.length).toBeLessThanOrEqual(maxTracestateLength);
    expect(members.startsWith(bounded)).toBe(true);
    expect(bounded.endsWith('x'.repeat(10))).toBe(true);
  });

  it('given a tracestate with control characters, then it is dropped', () => {
    expect(traceContextOf(valid, 'v=1\n')).toEqual({ traceparent: valid });
  });
});
