import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { lagOf } from '../../shared/consumerLag.ts';
import { boundedRead, registerConsumerLag, registerQueueMetrics, type WatchedQueue } from '../../shared/scrapedMetrics.ts';
import { erasureLagSeconds } from '../../workers/deletion/processor.ts';

const end = (partition: number, low: number, high: number) => ({ partition, low: String(low), high: String(high) });

describe('lagOf', () => {
  it('given committed offsets, then the lag is the end minus the committed offset', () => {
    expect(lagOf([end(0, 0, 10), end(1, 0, 5)], [{ partition: 0, offset: '7' }, { partition: 1, offset: '5' }])).toEqual([
      { partition: 0, lag: 3 },
      { partition: 1, lag: 0 },
    ]);
  });

  it('given a partition the group never committed on, then every message still there counts (it reads from the beginning)', () => {
    expect(lagOf([end(0, 4, 10), end(1, 0, 0)], [{ partition: 0, offset: '-1' }])).toEqual([
      { partition: 0, lag: 6 },
      { partition: 1, lag: 0 },
    ]);
  });

  it('given a committed offset below what retention kept, then the deleted messages do not count', () => {
    expect(lagOf([end(0, 8, 10)], [{ partition: 0, offset: '3' }])).toEqual([{ partition: 0, lag: 2 }]);
  });

  it('property: the lag is never negative and never more than the partition holds', () => {
    fc.assert(
      fc.property(fc.nat(1_000), fc.nat(1_000), fc.integer({ min: -1, max: 3_000 }), (low, size, committed) => {
        const [entry] = lagOf([end(0, low, low + size)], [{ partition: 0, offset: String(committed) }]);
        expect(entry!.lag).toBeGreaterThanOrEqual(0);
        expect(entry!.lag).toBeLessThanOrEqual(size);
      }),
    );
  });
});

describe('boundedRead', () => {
  it('given a read that hangs, then each call fails within the timeout, and calls meanwhile share the one read', async () => {
    let reads = 0;
    const read = boundedRead(() => {
      reads++;
      return new Promise<number>(() => undefined);
    }, 20);
    await expect(read()).rejects.toThrow('no answer within 20 ms');
    await expect(read()).rejects.toThrow('no answer within 20 ms');
    expect(reads).toBe(1);
  });
});

describe('registerConsumerLag', () => {
  const group = { groupId: 'customer-profiles-test', topics: ['customer-commands-test'] };

  it('given a broker that answers, then each partition has its lag; given one that does not, then /metrics answers in time with the last values and counts the error', async () => {
    let answer: 'ok' | 'hang' | 'fail' = 'ok';
    const admin = {
      fetchTopicOffsets: async () => {
        if (answer === 'hang') return new Promise<never>(() => undefined);
        if (answer === 'fail') throw new Error('broker away');
        return [{ ...end(0, 0, 12), offset: '12' }, { ...end(1, 0, 3), offset: '3' }];
      },
      fetchOffsets: async () => [{ topic: group.topics[0]!, partitions: [{ partition: 0, offset: '10', metadata: null }, { partition: 1, offset: '-1', metadata: null }] }],
    };
    const registry = new Registry();
    registerConsumerLag(registry, { admin, groups: [group], timeoutMs: 50 });
    const lagLine = (partition: number, value: number) => `profiles_consumer_lag_messages{group="${group.groupId}",topic="${group.topics[0]}",partition="${partition}"} ${value}`;

    let text = await registry.metrics();
    expect(text).toContain(lagLine(0, 2));
    expect(text).toContain(lagLine(1, 3));
    expect(text).toContain(`profiles_consumer_lag_scrape_errors_total{group="${group.groupId}"} 0`);

    answer = 'hang';
    const started = Date.now();
    text = await registry.metrics();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(text).toContain(lagLine(0, 2));
    expect(text).toContain(`profiles_consumer_lag_scrape_errors_total{group="${group.groupId}"} 1`);

    answer = 'fail';
    await registry.metrics(); // the hung read is still shared by this scrape
    await new Promise((resolve) => setTimeout(resolve, 60));
    text = await registry.metrics();
    expect(text).toContain(lagLine(1, 3));
    expect(text).toMatch(new RegExp(`profiles_consumer_lag_scrape_errors_total\\{group="${group.groupId}"\\} [3-9]`));
  });
});

describe('registerQueueMetrics', () => {
  it('given a queue, then its job counts per state and its finished jobs are shown, labelled by queue and state', async () => {
    const queue: WatchedQueue = {
      name: 'erasures-test',
      getJobCounts: async () => ({ waiting: 1, prioritized: 0, delayed: 4, active: 2, completed: 7, failed: 1 }),
      getMetrics: async (type) => ({ meta: { count: type === 'completed' ? 70 : 3 } }),
    };
    const registry = new Registry();
    registerQueueMetrics(registry, { queues: [queue] });
    const text = await registry.metrics();
    expect(text).toContain('profiles_queue_jobs{queue="erasures-test",state="delayed"} 4');
    expect(text).toContain('profiles_queue_jobs{queue="erasures-test",state="active"} 2');
    expect(text).toContain('profiles_queue_jobs_finished_total{queue="erasures-test",state="completed"} 70');
    expect(text).toContain('profiles_queue_jobs_finished_total{queue="erasures-test",state="failed"} 3');
    expect(text).toContain('# TYPE profiles_queue_jobs_finished_total counter');
  });
});

describe('erasureLagSeconds', () => {
  it('given a receipt, then the lag is from its due date (requestedAt) to its completion, never negative', () => {
    expect(erasureLagSeconds({ requestedAt: '2026-01-01T00:00:00.000Z', completedAt: '2026-01-01T00:01:30.500Z' })).toBe(90.5);
    expect(erasureLagSeconds({ requestedAt: '2026-01-01T00:00:10.000Z', completedAt: '2026-01-01T00:00:00.000Z' })).toBe(0);
  });
});
