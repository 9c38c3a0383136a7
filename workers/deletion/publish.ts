// The DELETED events of the erasures running at once go out in one produce (group commit), each
// to its organisation's event topic, created on first use.
import type { Config } from '../../shared/config.ts';
import type { AvroCodec, RegisteredType } from '../../shared/avro.ts';
import { ensureTopics, sendInChunks, type Admin, type Producer } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import { eventTopicConfig } from '../../shared/topicConfigs.ts';
import type { Topics } from '../../shared/topics.ts';
import { combine } from '../../shared/combine.ts';
import { correlationIdHeader } from '../profile/messages.ts';
import type { CustomerChanged } from '../profile/model.ts';

export type DeletedPublisherDeps = {
  config: Pick<Config, 'kafka' | 'retention'>;
  names: Pick<Topics, 'customerChanged'>;
  admin: Admin;
  producer: Producer;
  codec: AvroCodec;
  eventType: RegisteredType;
  logger: Logger;
};

/** Publishes one DELETED event; resolves once the broker acknowledged the produce it went out in. */
export function makeDeletedPublisher(deps: DeletedPublisherDeps): (event: CustomerChanged) => Promise<void> {
  const { config, names, admin, producer, codec, eventType, logger } = deps;
  const knownTopics = new Set<string>();
  return combine<CustomerChanged, void>(
    async (events) => {
      const byTopic = new Map<string, CustomerChanged[]>();
      for (const event of events) {
        const topic = names.customerChanged(event.organisationId);
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), event]);
      }
      const missing = [...byTopic.keys()].filter((topic) => !knownTopics.has(topic));
      if (missing.length > 0) {
        await ensureTopics(admin, missing.map((topic) => ({ topic, numPartitions: config.kafka.eventPartitions, config: eventTopicConfig(config.retention) })), { logger });
        for (const topic of missing) knownTopics.add(topic);
      }
      await sendInChunks(
        producer,
        [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((event) => ({ key: event.customerNumber, value: codec.encode(eventType, event), headers: { [correlationIdHeader]: event.correlationId ?? '' } })),
        })),
      );
      return events.map(() => undefined);
    },
    { max: 500 },
  );
}
