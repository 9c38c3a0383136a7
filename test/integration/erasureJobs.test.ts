import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { makeErasureJobs, makeErasureQueue, type ErasureJobData } from '../../shared/erasureQueue.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { erasureJobId, type ScheduleRecord } from '../../shared/expiry.ts';
import { defaultQueuePrefix, makeQueue } from '../../shared/queue.ts';
import { makeScheduleHandler } from '../../workers/scheduler/handler.ts';
import { ensureReconcileSchedule } from '../../workers/scheduler/index.ts';
import { makeReconciler } from '../../workers/scheduler/reconcile.ts';
import { cleanup, randomName, testConfig } from '../helpers/services.ts';

/**
 * The erasure jobs against real Redis and MongoDB, without the workers: whatever state a due
 * customer's job is in, the reconciliation leaves it one that runs by the profile's date (items 14, 15).
 */
describe('erasure jobs and the reconciliation', () => {
  const config = testConfig();

  async function setUp() {
    const env = randomName('jobs');
    const queue = makeErasureQueue(env, config.redisUrl);
    const jobs = makeErasureJobs(queue);
    const mongo = await connectMongo(config.mongoUri, { dbName: randomName('erasurejobs').replace('-', '_'), monitorCommands: true });
    const reconciler = makeReconciler({ db: mongo.db, jobs, horizonMs: 600_000, clock: () => new Date() });
    await reconciler.ensureIndexes();
    cleanup(async () => {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await mongo.db.dropDatabase();
      await mongo.close();
    });
    /** A temporary profile due at `dueAt` (only what the reconciliation reads). */
    const temporaryProfile = async (dueAt: number): Promise<ErasureJobData> => {
      const customerNumber = String(2_000_000 + Math.floor(Math.random() * 1_000_000));
      await mongo.db.collection('profiles').insertOne({ _id: customerNumber as never, organisationId: 1, profileType: 'T', status: 'A', expirationDate: new Date(dueAt).toISOString() });
      return { organisationId: 1, customerNumber };
    };
    return { env, queue, jobs, mongo, reconciler, temporaryProfile };
  }

  it('a job failed for good (stalled too often, attempts used up) is retried by the next reconciliation', async () => {
    const { queue, jobs, reconciler, temporaryProfile } = await setUp();
    const target = await temporaryProfile(Date.now() - 60_000);
    await jobs.schedule(target, Date.now() - 60_000, Date.now());

    // What BullMQ does to a job that stalled more than maxStalledCount times, whatever its attempts.
    const taker = new Worker(queue.name, undefined, { connection: { url: config.redisUrl }, prefix: defaultQueuePrefix });
    cleanup(() => taker.close());
    const token = randomUUID();
    const job = await taker.getNextJob(token);
    expect(job?.data).toEqual(target);
    await job!.moveToFailed(new UnrecoverableError('simulated: failed for good'), token);
    expect(await jobs.placeOf(target)).toEqual({ kind: 'failed' });

    const report = await reconciler.run();
    expect(report).toMatchObject({ scheduled: 1, overdue: 1, repaired: 1 });
    expect(await jobs.placeOf(target)).toEqual({ kind: 'elsewhere' });
    expect(await (await queue.getJob(job!.id!))!.getState()).toBe('waiting');
  });

  it("cancel removes the given customers' jobs at once, skips those without one, and leaves the job asking and a running one", async () => {
    const { queue, jobs } = await setUp();
    const customer = (index: number): ErasureJobData => ({ organisationId: 1, customerNumber: String(3_000_000 + index) });
    const [delayed, other, asking, withoutJob, running] = [customer(1), customer(2), customer(3), customer(4), customer(5)];
    const later = Date.now() + 3_600_000;
    await jobs.ensure([delayed, other, asking].map((target) => ({ target, dueAt: later })), Date.now(), 'exact');
    await jobs.schedule(running, Date.now() - 1_000, Date.now());
    const taker = new Worker(queue.name, undefined, { connection: { url: config.redisUrl }, prefix: defaultQueuePrefix });
    cleanup(() => taker.close());
    const token = randomUUID();
    expect((await taker.getNextJob(token))?.data).toEqual(running);

    await jobs.cancel([delayed, other, asking, withoutJob, running, delayed], { except: erasureJobId(asking.organisationId, asking.customerNumber) });
    expect(await jobs.placeOf(delayed)).toEqual({ kind: 'elsewhere' });
    expect(await queue.getJob(erasureJobId(delayed.organisationId, delayed.customerNumber))).toBeUndefined();
    expect(await queue.getJob(erasureJobId(other.organisationId, other.customerNumber))).toBeUndefined();
    expect(await jobs.placeOf(asking)).toMatchObject({ kind: 'delayed' });
    expect(await (await queue.getJob(erasureJobId(running.organisationId, running.customerNumber)))!.getState()).toBe('active');
    await jobs.cancel([]);
  });

  it('the backlog counts the jobs due and not yet started, and those running', async () => {
    const { queue, jobs } = await setUp();
    const now = Date.now();
    const targets = Array.from({ length: 5 }, (_, index) => ({ organisationId: 1, customerNumber: String(3_000_000 + index) }));
    await jobs.scheduleMany([...targets.map((target) => ({ target, dueAt: now - 1_000 })), { target: { organisationId: 1, customerNumber: '3999999' }, dueAt: now + 600_000 }], now);
    expect(await jobs.backlog()).toEqual({ waiting: 5, active: 0 });

    const taker = new Worker(queue.name, undefined, { connection: { url: config.redisUrl }, prefix: defaultQueuePrefix });
    cleanup(() => taker.close());
    expect(await taker.getNextJob(randomUUID())).toBeDefined();
    expect(await jobs.backlog()).toEqual({ waiting: 4, active: 1 });
  });

  it('a job delayed past its profile date is moved back to the date by the reconciliation', async () => {
    const { jobs, reconciler, temporaryProfile } = await setUp();
    const dueAt = Date.now() + 120_000;
    const target = await temporaryProfile(dueAt);
    // Left by a race: an older, later date re-added between a reschedule's steps.
    await jobs.schedule(target, dueAt + 240_000, Date.now());
    expect(await jobs.placeOf(target)).toEqual({ kind: 'delayed', fireAt: dueAt + 240_000 });

    expect((await reconciler.run()).repaired).toBe(1);
    const place = await jobs.placeOf(target);
    expect(place.kind).toBe('delayed');
    expect(Math.abs((place as { fireAt: number }).fireAt - dueAt)).toBeLessThan(1_000);
  });

  it('the reconciliation never moves a job later (its read may be older than the change); the scheduler moves it either way', async () => {
    const { jobs, temporaryProfile } = await setUp();
    const dueAt = Date.now() + 120_000;
    const target = await temporaryProfile(dueAt);
    await jobs.schedule(target, dueAt, Date.now());
    expect(await jobs.scheduleMany([{ target, dueAt: dueAt + 60_000 }], Date.now())).toBe(0);
    expect(await jobs.placeOf(target)).toEqual({ kind: 'delayed', fireAt: dueAt });
    await jobs.schedule(target, dueAt + 60_000, Date.now());
    const place = await jobs.placeOf(target);
    expect(Math.abs((place as { fireAt: number }).fireAt - (dueAt + 60_000))).toBeLessThan(1_000);
  });

  it('a reschedule to an earlier date racing reconciliations of the older date ends at the earlier date, for every customer', async () => {
    const { jobs } = await setUp();
    const now = Date.now();
    const earlier = now + 60_000;
    const older = now + 300_000;
    const targets = Array.from({ length: 50 }, (_, index) => ({ organisationId: 1, customerNumber: String(3_000_000 + index) }));
    const olderItems = targets.map((target) => ({ target, dueAt: older }));
    await jobs.scheduleMany(olderItems, now);

    // The reconciliation, having read the older date before the change, adds it again and again
    // while the scheduler applies the change.
    let racing = true;
    const reconciliations = (async () => {
      while (racing) await jobs.scheduleMany(olderItems, Date.now());
    })();
    await Promise.all(targets.map((target) => jobs.schedule(target, earlier, Date.now())));
    racing = false;
    await reconciliations;

    const late = [];
    for (const target of targets) {
      const place = await jobs.placeOf(target);
      if (place.kind !== 'delayed' || place.fireAt > earlier + 1_000) late.push({ target, place });
    }
    expect(late).toEqual([]);
  });

  it('the scheduler asks MongoDB only about records that set a date or concern a customer with a job', async () => {
    const { jobs, mongo, temporaryProfile } = await setUp();
    const handle = makeScheduleHandler({ db: mongo.db, jobs, horizonMs: 600_000, clock: () => new Date() });
    const reads: string[] = [];
    mongo.client.on('commandStarted', (event) => {
      if (event.commandName === 'find') reads.push(String((event.command as Record<string, unknown>)['find']));
    });
    const batch = (records: ScheduleRecord[]) => ({ messages: records.map((record) => ({ value: Buffer.from(JSON.stringify(record)) })) }) as never;

    // Changes that set no date, for customers without a job: nothing to read, nothing scheduled.
    const plain = [4_000_001, 4_000_002].map((number): ScheduleRecord => ({ organisationId: 1, customerNumber: String(number), version: 2, dueAt: null }));
    await handle(batch(plain));
    expect(reads).toEqual([]);
    for (const record of plain) expect(await jobs.placeOf(record)).toEqual({ kind: 'elsewhere' });
    expect(await jobs.withJobs(plain)).toEqual([false, false]);

    // A record that says "no date" arriving after a newer one (a re-relay) for a customer with a job:
    // MongoDB, which says the profile is due, keeps the job where it is.
    const dueAt = Date.now() + 120_000;
    const target = await temporaryProfile(dueAt);
    await handle(batch([{ ...target, version: 3, dueAt: new Date(dueAt).toISOString() }]));
    expect(reads).toEqual(['profiles']);
    expect(await jobs.placeOf(target)).toMatchObject({ kind: 'delayed' });
    await handle(batch([{ ...target, version: 2, dueAt: null }]));
    expect(reads).toEqual(['profiles', 'profiles']);
    expect(await jobs.withJobs([target])).toEqual([true]);
    expect(await jobs.placeOf(target)).toMatchObject({ kind: 'delayed' });
  });

  it('the reconciliation schedule: first tick an interval after a start, kept by the keeper, at once when Redis lost it', async () => {
    const queue = makeQueue<Record<string, never>>(randomName('reconcile'), { redisUrl: config.redisUrl });
    cleanup(async () => {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    });
    const everyMs = 60_000;
    const nextTick = async () => (await queue.getJobScheduler('reconcile'))?.next ?? Number.NaN;

    // At start the scheduler has just reconciled: no second run right away.
    const startedAt = Date.now();
    await ensureReconcileSchedule(queue, everyMs, startedAt + everyMs);
    expect(await nextTick()).toBeGreaterThanOrEqual(startedAt + everyMs);
    expect(await queue.getJobCounts('wait', 'delayed')).toEqual({ wait: 0, delayed: 1 });
    // The keeper's call leaves an existing schedule as it is, and so does a restart.
    const next = await nextTick();
    await ensureReconcileSchedule(queue, everyMs);
    await ensureReconcileSchedule(queue, everyMs, Date.now() + 2 * everyMs);
    expect(await nextTick()).toBe(next);
    // Redis lost its data: the keeper's call schedules a run at once.
    await queue.obliterate({ force: true });
    const lostAt = Date.now();
    await ensureReconcileSchedule(queue, everyMs);
    expect(await nextTick()).toBeLessThan(lostAt + 1_000);
  });
});
