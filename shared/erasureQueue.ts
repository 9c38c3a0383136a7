// The BullMQ queue of erasures: the scheduler puts a delayed job per customer due within the
// horizon; the deletion worker runs the saga when it fires. Jobs carry ids only.
//
// A customer has one job id (erasureJobId), so adding a job that exists is a no-op. What exists may
// be a job that can no longer do its work: failed for good (stalled more than BullMQ allows, or its
// attempts used up in a long outage; kept 7 days under the same id), finished while the profile is
// still there, or delayed to a date later than the profile's. `ensure` repairs each of these with one
// atomic BullMQ operation (a Lua script: retry, changeDelay), never by a remove followed by an add,
// which a concurrent add of another date could slip between.
import { Job, type Queue } from 'bullmq';
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
  // back-off as long as the outage was. Many attempts: jobs carry ids only and must not give up
  // (and a job that does fail for good is retried by the next reconciliation: see `ensure`).
  attempts: 1_000,
  backoff: { type: 'fixed', delay: 2_000 },
} as const;

/** How far a delayed job's time may be off its date before it is moved (scores are in ms). */
const toleranceMs = 1_000;

/** Jobs added and inspected per round trip. */
const chunk = 1_000;

/** Where a job stands, as far as its repair goes; `elsewhere`: waiting or running (left alone). */
export type JobPlace = { kind: 'delayed'; fireAt: number } | { kind: 'failed' } | { kind: 'completed' } | { kind: 'elsewhere' };

/** What `ensure` should do with a delayed job whose time differs from its date. */
export type EnsureMode =
  /** The scheduler, which has just read the profile: the job fires at its date, earlier or later. */
  | 'exact'
  /**
   * The reconciliation, whose read may be older than a change the scheduler applied meanwhile: it
   * only moves jobs earlier. A job that fires early is harmless (the saga re-checks MongoDB and
   * delays it to the profile's date); one moved later on a stale date would erase late.
   */
  | 'not-later';

/** The repair a job needs, or null: pure. `target`: when it should fire (its date, or now if past). */
export function repairOf(place: JobPlace, target: number, mode: EnsureMode): 'retry-failed' | 'retry-completed' | 'move' | null {
  switch (place.kind) {
    case 'failed':
      return 'retry-failed';
    case 'completed':
      return 'retry-completed';
    case 'delayed':
      if (place.fireAt > target + toleranceMs) return 'move';
      return mode === 'exact' && place.fireAt < target - toleranceMs ? 'move' : null;
    case 'elsewhere':
      return null;
    default:
      return place satisfies never;
  }
}

export type ErasureJobs = ReturnType<typeof makeErasureJobs>;

/** `EXISTS` of each key, as a list (Redis' own `EXISTS k1 k2` only counts them). */
const existsEach = "local found = {} for i, key in ipairs(KEYS) do found[i] = redis.call('EXISTS', key) end return found";

export function makeErasureJobs(queue: Queue<ErasureJobData>) {
  const keys = queue.keys as Record<'delayed' | 'failed' | 'completed', string>;

  /**
   * Each job's delayed score (time × 4096 + a counter), failed or completed membership: commands
   * sent together on the queue's connection, which pipelines them (one round trip per chunk).
   */
  async function placesOf(jobIds: string[]): Promise<JobPlace[]> {
    const client = await queue.getBackend().connection.client;
    const scores = await Promise.all(jobIds.map((jobId) => Promise.all([client.zscore(keys.delayed, jobId), client.zscore(keys.failed, jobId), client.zscore(keys.completed, jobId)])));
    return scores.map(([delayed, failed, completed]): JobPlace => {
      if (delayed !== null) return { kind: 'delayed', fireAt: Math.floor(Number(delayed) / 0x1000) };
      if (failed !== null) return { kind: 'failed' };
      if (completed !== null) return { kind: 'completed' };
      return { kind: 'elsewhere' };
    });
  }

  /**
   * Whether each job exists: one script that checks them all (one command, one round trip). Not an
   * ioredis pipeline: each one copies every script BullMQ defined on the connection.
   */
  async function existing(jobIds: readonly string[]): Promise<boolean[]> {
    if (jobIds.length === 0) return [];
    const client = await queue.getBackend().connection.client;
    const found = (await client.runCommand('eval', [existsEach, jobIds.length, ...jobIds.map((jobId) => queue.toKey(jobId))])) as number[];
    return jobIds.map((_, index) => found[index] === 1);
  }

  /** Applies a repair; false when the job moved on meanwhile (it runs, or ran: the saga re-checks). */
  async function repair(jobId: string, kind: 'retry-failed' | 'retry-completed' | 'move', target: number): Promise<boolean> {
    const job = await Job.fromId<ErasureJobData>(queue, jobId);
    if (!job) return false;
    try {
      if (kind === 'move') await job.changeDelay(Math.max(0, target - Date.now()));
      // Back to waiting, with its attempts counted afresh: it runs now, and the saga delays it to
      // the profile's date if that is still ahead.
      else await job.retry(kind === 'retry-failed' ? 'failed' : 'completed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Makes sure each customer's job will fire at its `dueAt` (now if past), whatever state it is in:
   * adds the missing ones, retries failed and finished ones, moves delayed ones (see {@link EnsureMode}).
   * A job waiting or running is left alone: it re-checks MongoDB before erasing. Returns how many
   * existing jobs were repaired.
   */
  async function ensure(items: { target: ErasureJobData; dueAt: number }[], now: number, mode: EnsureMode): Promise<number> {
    let repaired = 0;
    for (let start = 0; start < items.length; start += chunk) {
      const slice = items.slice(start, start + chunk).map((item) => ({ ...item, jobId: erasureJobId(item.target.organisationId, item.target.customerNumber) }));
      // A customer that has a job keeps it (same job id): inspected below.
      await queue.addBulk(
        slice.map(({ target, dueAt, jobId }) => ({ name: 'erase', data: target, opts: { ...jobOptions, jobId, timestamp: now, delay: Math.max(0, dueAt - now) } })),
      );
      const places = await placesOf(slice.map((item) => item.jobId));
      await Promise.all(
        slice.map(async ({ jobId, dueAt }, index) => {
          const target = Math.max(dueAt, now);
          const kind = repairOf(places[index]!, target, mode);
          if (kind && (await repair(jobId, kind, target))) repaired += 1;
        }),
      );
    }
    return repaired;
  }

  return {
    queue,
    ensure,
    /** The scheduler, after a change: the customer's job fires at `dueAt` (now if past). */
    async schedule(target: ErasureJobData, dueAt: number, now: number): Promise<void> {
      await ensure([{ target, dueAt }], now, 'exact');
    },
    /** The reconciliation: every one of these has a job that will run by its date. */
    scheduleMany: (items: { target: ErasureJobData; dueAt: number }[], now: number): Promise<number> => ensure(items, now, 'not-later'),
    /**
     * Removes these customers' jobs, but a running one (BullMQ refuses to remove a locked job) and
     * `except` (the job asking: an erasure in its customer's job, the only one a customer has).
     */
    async cancel(targets: readonly ErasureJobData[], options: { except?: string } = {}): Promise<void> {
      const jobIds = [...new Set(targets.map((target) => erasureJobId(target.organisationId, target.customerNumber)))].filter((jobId) => jobId !== options.except);
      // Most have no job (a change that set no date): one existence check for all.
      const found = await existing(jobIds);
      await Promise.all(
        jobIds.map(async (jobId, index) => {
          if (!found[index]) return;
          const job = await queue.getJob(jobId);
          await job?.remove().catch(() => undefined); // running: locked, it stays
        }),
      );
    },
    /** Which of these customers have a job (in any state): one existence check for all. */
    async withJobs(targets: readonly ErasureJobData[]): Promise<boolean[]> {
      return existing(targets.map((target) => erasureJobId(target.organisationId, target.customerNumber)));
    },
    /** Jobs due and not yet started (`waiting`), and running (`active`). */
    async backlog(): Promise<{ waiting: number; active: number }> {
      const { wait = 0, active = 0 } = await queue.getJobCounts('wait', 'active');
      return { waiting: wait, active };
    },
    /** Where a customer's job stands (operators, tests). */
    async placeOf(target: ErasureJobData): Promise<JobPlace> {
      return (await placesOf([erasureJobId(target.organisationId, target.customerNumber)]))[0]!;
    },
  };
}
