// One publisher of CustomerChanged events to each organisation's own topic (SPEC §2, §5), for the
// profile worker's relay and the deletion worker alike: the topic is created with the suite's
// configuration (or aligned to it) the first time it is used, then each event is keyed by its
// customer number and carries the correlation id of its command when there is one.
import type { Admin, Message, TopicMessages } from 'kafkajs';
import type { AvroCodec, RegisteredType } from '../avro.ts';
import { ensureTopics, type UnalignedTopic } from '../kafka.ts';
import type { Logger } from '../logger.ts';
import type { TopicConfig } from '../topicConfigs.ts';
import { correlationIdHeader, type Topics } from '../topics.ts';
import { traceHeaders, type TraceContext } from '../tracing.ts';
import type { CustomerChanged } from './model.ts';

export type EventPublisher = ReturnType<typeof makeEventPublisher>;

export function makeEventPublisher(deps: {
  admin: Admin;
  codec: AvroCodec;
  schema: RegisteredType;
  topics: Topics;
  eventPartitions: number;
  /** Configuration of each organisation's event topic: set when it is created, aligned when it exists. */
  eventTopicConfig?: TopicConfig;
  /** Event topics whose configuration could not be aligned (for /readyz). */
  onUnaligned?: (topics: UnalignedTopic[]) => void;
  logger?: Logger;
}) {
  const { codec, schema, topics } = deps;
  const knownTopics = new Set<string>();

  const ensureEventTopics = async (names: string[]) => {
    const missing = [...new Set(names)].filter((name) => !knownTopics.has(name));
    if (missing.length === 0) return;
    const unaligned = await ensureTopics(deps.admin, missing.map((topic) => ({ topic, numPartitions: deps.eventPartitions, config: deps.eventTopicConfig })), deps.logger ? { logger: deps.logger } : {});
    if (unaligned.length > 0) deps.onUnaligned?.(unaligned);
    for (const name of missing) knownTopics.add(name);
  };

  const eventMessage = (event: CustomerChanged, trace: TraceContext | undefined): Message => ({
    key: event.customerNumber,
    value: codec.encode(schema, event),
    headers: { ...(event.correlationId ? { [correlationIdHeader]: event.correlationId } : {}), ...traceHeaders(trace) },
  });

  return {
    /**
     * The events as the topic messages of one produce, in their order per topic; every topic exists.
     * `traces`, by index of `events`: the trace context each is sent in (its command's, continued);
     * an event without one (an erasure) starts a new trace.
     */
    async topicMessages(events: readonly CustomerChanged[], traces: readonly (TraceContext | undefined)[] = []): Promise<TopicMessages[]> {
      const byTopic = new Map<string, Message[]>();
      for (const [index, event] of events.entries()) {
        const topic = topics.customerChanged(event.organisationId);
        const list = byTopic.get(topic) ?? [];
        list.push(eventMessage(event, traces[index]));
        byTopic.set(topic, list);
      }
      await ensureEventTopics([...byTopic.keys()]);
      return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    },
  };
}
