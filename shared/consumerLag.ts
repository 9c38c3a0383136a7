// How far each consumer group is behind, read from the broker (the group's committed offsets
// against each partition's end), so that it is right for partitions nobody consumes right now:
// after a rebalance, while a worker is down, or when no message arrives.
import type { Admin } from './kafka.ts';

/** A consumer group and the topics it consumes. */
export type ConsumerGroup = { groupId: string; topics: string[] };

export type PartitionLag = { group: string; topic: string; partition: number; lag: number };

/** A partition's offsets as `admin.fetchTopicOffsets` gives them. */
export type PartitionEnd = { partition: number; high: string; low: string };
/** A group's committed offset as `admin.fetchOffsets` gives it (`-1` when it never committed). */
export type CommittedOffset = { partition: number; offset: string };

/**
 * Messages between the group's committed offset and each partition's end. A group that never
 * committed on a partition reads it from the beginning (`fromBeginning`), so all its messages
 * still there count; messages deleted by retention do not.
 */
export function lagOf(ends: readonly PartitionEnd[], committed: readonly CommittedOffset[]): { partition: number; lag: number }[] {
  const committedOf = new Map(committed.map((entry) => [entry.partition, Number(entry.offset)]));
  return ends.map(({ partition, high, low }) => {
    const end = Number(high);
    const start = Number(low);
    const at = committedOf.get(partition) ?? -1;
    const from = at < 0 ? start : Math.max(at, start);
    return { partition, lag: Math.max(0, end - from) };
  });
}

/** Reads the lag of one group on each partition of its topics (two admin requests per topic, one for the group). */
export async function readGroupLag(admin: Pick<Admin, 'fetchTopicOffsets' | 'fetchOffsets'>, group: ConsumerGroup): Promise<PartitionLag[]> {
  const [ends, committed] = await Promise.all([
    Promise.all(group.topics.map((topic) => admin.fetchTopicOffsets(topic))),
    admin.fetchOffsets({ groupId: group.groupId, topics: group.topics }),
  ]);
  return group.topics.flatMap((topic, index) =>
    lagOf(ends[index]!, committed.find((entry) => entry.topic === topic)?.partitions ?? []).map(({ partition, lag }) => ({ group: group.groupId, topic, partition, lag })),
  );
}
