import { describe, expect, it } from 'vitest';
import { QueueEvents } from 'bullmq';
import { defaultQueuePrefix, makeQueue, makeWorker } from '../../shared/queue.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

describe('bullmq adapter', () => {
  const config = testConfig();

  it('enqueues a job and a worker processes it', async () => {
    const name = randomName('smoke-queue');
    const queue = makeQueue<{ organisationId: number; customerNumber: string }>(name, { redisUrl: config.redisUrl });
    const events = new QueueEvents(name, { connection: { url: config.redisUrl }, prefix: defaultQueuePrefix });
    const seen: string[] = [];
    const worker = makeWorker<{ organisationId: number; customerNumber: string }, string>(
      name,
      async (job) => {
        seen.push(job.data.customerNumber);
        return `erased ${job.data.organisationId}:${job.data.customerNumber}`;
      },
      { redisUrl: config.redisUrl },
    );
    cleanup(async () => {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
    });
    await events.waitUntilReady();

    const job = await queue.add('erase', { organisationId: 7, customerNumber: '1001' }, { jobId: '7-1001' });
    expect(await job.waitUntilFinished(events, 10_000)).toBe('erased 7:1001');
    expect(seen).toEqual(['1001']);
    // The same jobId is one job: a second add is a no-op.
    await queue.add('erase', { organisationId: 7, customerNumber: '1001' }, { jobId: '7-1001' });
    expect(await queue.getJobCounts('completed', 'waiting')).toEqual({ completed: 1, waiting: 0 });
  });
});
