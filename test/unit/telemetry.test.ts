import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTracing } from '../../app/main.ts';

describe('OpenTelemetry (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const saved = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  afterEach(() => {
    if (saved === undefined) delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
    else process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = saved;
  });

  it('given no endpoint, then no telemetry is started', async () => {
    expect(await startTracing({})).toBeNull();
  });

  it('given an endpoint, then the spans of a step and its phases are exported over OTLP/HTTP, linked to the command trace', async () => {
    const received: { url: string; body: string }[] = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ url: request.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const telemetry = await startTracing(process.env);
      expect(telemetry).not.toBeNull();
      await telemetry!.tracing.span('profile.step', { 'messaging.batch.message_count': 1 }, async (span) => {
        span.link([{ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, undefined]);
        await span.phase('profile.decide', async () => undefined);
      });
      await telemetry!.shutdown();

      expect(received.map(({ url }) => url)).toContain('/v1/traces');
      const body = received.map(({ body }) => body).join('');
      expect(body).toContain('profile.step');
      expect(body).toContain('profile.decide');
      expect(body).toContain('customer-profiles');
    } finally {
      server.close();
    }
  });
});
