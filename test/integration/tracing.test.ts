import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IHeaders } from 'kafkajs';
import { creator, commandJson } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { makeStepTracing } from '../../shared/telemetry.ts';

/** SPEC §5: a command's W3C traceparent is continued on its result and its events, as a subscriber sees them. */
describe('profile worker: trace context through the broker', () => {
  let harness: ProfileHarness;
  // The worker's own spans (OpenTelemetry, as app/main.ts starts it when OTEL_EXPORTER_OTLP_ENDPOINT is set), kept in memory.
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(async () => {
    harness = await startProfileHarness({ workerOverrides: { tracing: makeStepTracing(provider.getTracer('test')) } });
  });
  afterAll(async () => {
    await harness?.close();
    await provider.shutdown();
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

  it('given a command with a traceparent, then the decode and step spans of the worker link to its trace, and the step has its load, decide, write and relay phases', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await create({ traceparent: `00-${traceId}-b7ad6b7169203331-01` });

    const linked = (name: string) => () =>
      exporter.getFinishedSpans().find((span) => span.name === name && span.links.some((link) => link.context.traceId === traceId && link.context.spanId === 'b7ad6b7169203331'));
    const step = await waitFor('the step span linked to the command', linked('profile.step'));
    await waitFor('the decode span linked to the command', linked('profile.decode'));
    const phases = exporter
      .getFinishedSpans()
      .filter((span) => span.parentSpanContext?.spanId === step.spanContext().spanId)
      .map((span) => span.name);
    expect(phases).toEqual(expect.arrayContaining(['profile.load', 'profile.decide', 'profile.write', 'profile.relay']));
    expect(step.attributes).toMatchObject({ 'messaging.destination.name': harness.names.commands });
  });
});
