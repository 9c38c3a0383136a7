import { describe, expect, it } from 'vitest';
import { configChanges, eventTopicConfig, retainedTopicConfig } from '../../shared/topicConfigs.ts';

const retention = { eventMinCompactionLagMs: 3_600_000, eventMaxCompactionLagMs: 86_400_000, commandRetentionMs: 604_800_000, dlqRetentionMs: 1_209_600_000 };

describe('the configuration of the topics the suite owns', () => {
  it('given the lags, then an event topic is compacted with them, its segments rolling at the maximum lag', () => {
    expect(eventTopicConfig(retention)).toEqual({ 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '3600000', 'max.compaction.lag.ms': '86400000', 'segment.ms': '86400000' });
  });

  it('given a retention, then records are deleted after it, segments rolling at a seventh of it (at least a minute)', () => {
    expect(retainedTopicConfig(604_800_000)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '604800000', 'segment.ms': '86400000' });
    expect(retainedTopicConfig(60_000)['segment.ms']).toBe('60000');
  });

  it('given a topic with the broker defaults, then every setting that differs is a change, named with both values', () => {
    expect(configChanges({ 'cleanup.policy': 'delete', 'retention.ms': '604800000', 'segment.ms': '604800000' }, retainedTopicConfig(1_209_600_000))).toEqual([
      { name: 'retention.ms', from: '604800000', to: '1209600000' },
      { name: 'segment.ms', from: '604800000', to: '172800000' },
    ]);
    expect(configChanges({ 'cleanup.policy': 'compact' }, { 'cleanup.policy': 'compact' })).toEqual([]);
  });
});
