// The configuration of the topics the suite owns (SPEC §2, §6): personal data must leave Kafka as
// it leaves MongoDB. Event topics are compacted by customer number, so the DELETED event (no
// personal data) replaces an erased customer's snapshots; the command topic and the DLQ, which
// hold clients' original bytes, forget after a bounded retention. Pure: the adapter in kafka.ts
// creates topics with these settings and aligns existing ones to them.
import type { Config } from './config.ts';

export type TopicConfig = Record<string, string>;

/** Kafka deletes or compacts whole segments only: a segment rolls at least this often. */
const segmentOf = (boundMs: number) => String(Math.max(60_000, Math.floor(boundMs)));

/**
 * Each organisation's `customer-changed` topic: compacted by key (the customer number). Every change
 * stays readable for the minimum lag; a superseded one becomes eligible for compaction at the
 * maximum lag, and segments roll at that age so that the cleaner may take it. No tombstone follows
 * a DELETED event: it carries no personal data, and stays as the customer's latest record so that
 * a subscriber loading the topic learns the customer is gone.
 */
export function eventTopicConfig(retention: Config['retention']): TopicConfig {
  return {
    'cleanup.policy': 'compact',
    'min.compaction.lag.ms': String(retention.eventMinCompactionLagMs),
    'max.compaction.lag.ms': String(retention.eventMaxCompactionLagMs),
    'segment.ms': String(retention.eventMaxCompactionLagMs),
  };
}

/**
 * A topic of clients' original bytes (the command topic, the DLQ): deleted after `retentionMs`.
 * Segments roll at a seventh of it, so a record is gone at most about 8/7 of the retention after
 * it was written.
 */
export function retainedTopicConfig(retentionMs: number): TopicConfig {
  return { 'cleanup.policy': 'delete', 'retention.ms': String(retentionMs), 'segment.ms': segmentOf(retentionMs / 7) };
}

/** What must change in a topic's configuration to match `wanted` (names whose value differs). */
export function configChanges(current: Readonly<Record<string, string | null | undefined>>, wanted: TopicConfig): { name: string; from: string | null; to: string }[] {
  return Object.entries(wanted)
    .filter(([name, value]) => current[name] !== value)
    .map(([name, to]) => ({ name, from: current[name] ?? null, to }));
}
