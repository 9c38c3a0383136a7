// The BullMQ queue of erasures: the scheduler puts a delayed job per customer due within the
// horizon; the deletion worker runs the saga when it fires. Jobs carry ids only.
import type { Queue } from 'bullmq';
import { erasureJobId } from './expiry.ts';
import { makeQueue } from './queue.ts';

export type ErasureJobData = { organisationId: number; customerNumber: string };

export const erasureQueueName = (env: string) => `erasures-${env}`;

export function makeErasureQueue(env: string, redisUrl: string): Queue<ErasureJobData> {
  return makeQueue<ErasureJobData>(erasureQueueName(env), { redisUrl }) as unknown as Queue<ErasureJobData>;
}

/** No trace in Redis once done: a finished job is removed; a failed one keeps ids only, for operators. */
const jobOptions = {
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3_600 },
  // A fixed, short back-off: after an outage the erasure runs again within seconds, not after a
  // back-off as long as the outage was. Many attempts: jobs carry ids only and must not give up.
  attempts: 1_000,
  backoff: { type: 'fixed', delay: 2_000 },
} as const;

export type ErasureJobs = ReturnType<typeof makeErasureJobs>;

export function makeErasureJobs(queue: Queue<ErasureJobData>) {
  return {
    queue,
    /**
     * Makes sure the customer's job fires at `dueAt` (now if past): adds it, or moves a delayed one.
     * A job already running is left alone: it re-checks MongoDB before erasing.
     */
    async schedule(target: ErasureJobData, dueAt: number, now: number): Promise<void> {
      const jobId = erasureJobId(target.organisationId, target.customerNumber);
      const delay = Math.max(0, dueAt - now);
      const existing = await queue.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        if (state === 'active') return;
        if (state === 'delayed' && existing.timestamp + (existing.delay ?? 0) === dueAt) return;
        await existing.remove().catch(() => undefined); // locked meanwhile: it runs and re-checks
      }
      await queue.add('erase', target, { ...jobOptions, jobId, delay });
    },
    /** Adds many at once; a customer that already has a job keeps it (same job id). */
    async scheduleMany(items: { target: ErasureJobData; dueAt: number }[], now: number): Promise<void> {
      for (let start = 0; start < items.length; start += 1_000) {
        await queue.addBulk(
          items.slice(start, start + 1_000).map(({ target, dueAt }) => ({
            name: 'erase',
            data: target,
            opts: { ...jobOptions, jobId: erasureJobId(target.organisationId, target.customerNumber), delay: Math.max(0, dueAt - now) },
          })),
        );
      }
    },
    /** Removes the customer's job unless it is running. */
    async cancel(target: ErasureJobData): Promise<void> {
      const existing = await queue.getJob(erasureJobId(target.organisationId, target.customerNumber));
      if (existing) await existing.remove().catch(() => undefined);
    },
  };
}
