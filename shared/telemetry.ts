// OpenTelemetry tracing, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (app/main.ts imports
// this module dynamically: without it no SDK is loaded and the workers use `noTracing`). Spans are
// the steps of the workers and their phases (decode, load, decide, write, relay), each linked to
// the traces of the commands it handles — a step handles up to 1,000 commands of as many traces,
// so they are links, not parents. The OTLP/HTTP exporter reads the standard OTEL_EXPORTER_OTLP_*
// variables itself; OTEL_SERVICE_NAME names the service (default customer-profiles).
import { SpanKind, SpanStatusCode, context, trace, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { parseTraceparent, type StepSpan, type StepTracing, type TraceContext } from './tracing.ts';

/** Links kept per span (the SDK's default `linkCountLimit`): a step of 1,000 commands links its first 128. */
export const maxLinks = 128;

const linkOf = (command: TraceContext | undefined): Link[] => {
  const parsed = parseTraceparent(command?.traceparent);
  return parsed ? [{ context: { traceId: parsed.traceId, spanId: parsed.parentId, traceFlags: Number.parseInt(parsed.flags, 16) & 1, isRemote: true } }] : [];
};

const failed = (span: Span, error: unknown) => {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
};

/** {@link StepTracing} over an OpenTelemetry tracer. */
export function makeStepTracing(tracer: Tracer): StepTracing {
  return {
    async span(name, attributes, run) {
      const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes });
      const parent = trace.setSpan(context.active(), span);
      let links = 0;
      const stepSpan: StepSpan = {
        link(traces) {
          for (const command of traces) {
            if (links >= maxLinks) return;
            const [link] = linkOf(command);
            if (link) {
              span.addLink(link);
              links++;
            }
          }
        },
        async phase(phaseName, runPhase) {
          const child = tracer.startSpan(phaseName, {}, parent);
          try {
            return await runPhase();
          } catch (error) {
            failed(child, error);
            throw error;
          } finally {
            child.end();
          }
        },
      };
      try {
        return await run(stepSpan);
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  };
}

export type Telemetry = { tracing: StepTracing; shutdown: () => Promise<void> };

/** Starts the SDK: spans batched and sent over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT. */
export function startTelemetry(options: { serviceName: string; serviceVersion?: string }): Telemetry {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  return { tracing: makeStepTracing(provider.getTracer('customer-profiles')), shutdown: () => provider.shutdown() };
}
