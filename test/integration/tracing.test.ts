import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IHeaders } from 'kafkajs';
import { creator, commandJson } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';

/** SPEC §5: a command's W3C traceparent is continued on its result and its events, as a subscriber sees them. */
describe('profile worker: trace context through the broker', () => {
  let harness: ProfileHarness;
  beforeAll(async () => {
    harness = await startProfileHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
  const header = (headers: IHeaders, name: string) => {
    const value = headers[name];
    return value === undefined ? undefined : String(Array.isArray(value) ? value[0] : value);
  };
  const partsOf = (headers: IHeaders) => {
    const traceparent = header(headers, 'traceparent');
    const match = traceparent === undefined ? null : traceparentPattern.exec(traceparent);
    if (!match) throw new Error(`not a valid traceparent: ${traceparent}`);
    return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
  };

  /** Sends a CreateProfile and waits for its result and its CREATED event as received. */
  async function create(headers: Record<string, string>) {
    const command = commandJson('CreateProfile', { ...creator, firstName: 'Kari', surname: 'Nordmann' });
    const commandId = command['commandId'] as string;
    await harness.send(command, { headers });
    const result = await waitFor(`the result of ${commandId}`, () => harness.results.find((entry) => entry.value.commandId === commandId), { timeoutMs: 20_000 });
    const event = await waitFor('the CREATED event', () => harness.events.find((entry) => entry.value.commandId === commandId && entry.value.eventType === 'CREATED'));
    return { result, event };
  }

  it('given a command with a traceparent and a tracestate, then its result and its event carry its trace id, a new parent id and the tracestate', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const { result, event } = await create({ traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=abc,other=1' });

    for (const received of [result, event]) {
      const parts = partsOf(received.headers);
      expect(parts.traceId).toBe(traceId);
      expect(parts.parentId).not.toBe(parentId);
      expect(parts.flags).toBe('01');
      expect(header(received.headers, 'tracestate')).toBe('vendor=abc,other=1');
    }
  });

  it('given a command without a traceparent (or with an invalid one), then its result and its event carry a valid one of one new trace', async () => {
    const cases: Record<string, string>[] = [{}, { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'vendor=abc' }];
    for (const headers of cases) {
      const { result, event } = await create(headers);
      const fromResult = partsOf(result.headers);
      const fromEvent = partsOf(event.headers);
      expect(fromResult.traceId).toBe(fromEvent.traceId);
      expect(fromResult.traceId).not.toMatch(/^0+$/);
      expect(fromResult.flags).toBe('01');
      expect(header(result.headers, 'tracestate')).toBeUndefined();
    }
  });
});
