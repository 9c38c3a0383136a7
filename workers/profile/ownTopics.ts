// The topics the profile worker owns (SPEC §2, §6): created with their configuration, or aligned to
// it. Those it could not align make it unready, named in /readyz, and are tried again with each
// sweep (a broker busy at start-up must not leave the worker unready for good).
import type { Admin } from 'kafkajs';
import type { Config } from '../../shared/config.ts';
import { ensureTopics, type TopicSpec, type UnalignedTopic } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import { eventTopicConfig, retainedTopicConfig, type TopicConfig } from '../../shared/topicConfigs.ts';
import type { Topics } from '../../shared/topics.ts';

export type OwnTopics = Awaited<ReturnType<typeof alignOwnTopics>>;

export async function alignOwnTopics(admin: Admin, names: Topics, config: Pick<Config, 'kafka' | 'retention'>, logger: Logger) {
  const unaligned = new Map<string, string>();
  const note = (list: UnalignedTopic[]) => {
    for (const { topic, reason } of list) unaligned.set(topic, reason);
  };
  const eventConfig: TopicConfig = eventTopicConfig(config.retention);
  const owned = new Map<string, TopicSpec>(
    [
      { topic: names.commands, numPartitions: config.kafka.commandPartitions, config: retainedTopicConfig(config.retention.commandRetentionMs) },
      { topic: names.results, numPartitions: config.kafka.commandPartitions },
      { topic: names.dlq, numPartitions: 1, config: retainedTopicConfig(config.retention.dlqRetentionMs) },
      { topic: names.expirations, numPartitions: config.kafka.commandPartitions },
    ].map((spec) => [spec.topic, spec]),
  );
  const specOf = (topic: string): TopicSpec => owned.get(topic) ?? { topic, numPartitions: config.kafka.eventPartitions, config: eventConfig };
  const ownEventTopic = new RegExp(`^${names.customerChanged(0).slice(0, -1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d+$`);
  const eventTopics = (await admin.listTopics()).filter((topic) => ownEventTopic.test(topic));
  note(await ensureTopics(admin, [...owned.keys(), ...eventTopics].map(specOf), { logger }));
  return {
    eventConfig,
    /** Records topics found unaligned elsewhere (the relay's event topics). */
    note,
    /** Tries the unaligned topics again. */
    async alignAgain(): Promise<void> {
      if (unaligned.size === 0) return;
      const still = await ensureTopics(admin, [...unaligned.keys()].map(specOf), { logger });
      unaligned.clear();
      note(still);
    },
    /** What is wrong, for /readyz; null when every topic is as the suite needs it. */
    problem: () => (unaligned.size > 0 ? `topics not configured as the suite needs: ${[...unaligned].map(([topic, reason]) => `${topic} (${reason})`).join('; ')}` : null),
  };
}
