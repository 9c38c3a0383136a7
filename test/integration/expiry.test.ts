import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeErasureJobs, makeErasureQueue } from '../../shared/erasureQueue.ts';
import { makeRedis, type Redis } from '../../shared/redis.ts';
import { verifyErasure } from '../../scripts/verifyErasure.ts';
import { startCrashingWorker } from '../helpers/crashing.ts';
import { actor, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { waitFor } from '../helpers/services.ts';
import { makeReconciler } from '../../workers/scheduler/reconcile.ts';

/** Deletes every key of the suite's queues of one PROFILES_ENV, as if Redis had lost its data. */
async function forgetQueues(redis: Redis, env: string): Promise<void> {
  for (const pattern of [`profiles:erasures-${env}:*`, `profiles:expiry-reconcile-${env}:*`]) {
    const keys = await redis.keys(pattern);
    if (keys.length > 0) await redis.del(...keys);
  }
}

/** Expiration and erasure (SPEC §6), with dates a few seconds ahead, through all three workers. */
describe('expiration and erasure', () => {
  let harness: ProfileHarness;
  let redis: Redis;
  beforeAll(async () => {
    harness = await startProfileHarness({ expiry: true, env: { ERASURE_LOCK_MS: '2000' } });
    redis = makeRedis(harness.config.redisUrl);
  });
  afterAll(async () => {
    redis?.disconnect();
    await harness?.close();
  });

  async function run(type: string, payload: Record<string, unknown>, customerNumber?: string) {
    const result = await harness.run(type, payload, customerNumber);
    expect(result, `${type}: ${result.message}`).toMatchObject({ status: 'ACCEPTED' });
    return result;
  }

  const deletedEvent = (customerNumber: string, timeoutMs = 20_000) =>
    waitFor(`the DELETED event of ${customerNumber}`, () => harness.eventsOf(customerNumber).find((event) => event.eventType === 'DELETED'), { timeoutMs });

  const profileExists = async (customerNumber: string) => (await harness.mongo.db.collection('profiles').countDocuments({ _id: customerNumber as never })) === 1;

  it('a temporary profile is erased within 5 s after its date: receipt, DELETED event, no trace, email free again', async () => {
    const email = `temp-${Date.now()}@example.com`;
    const dueAt = isoAfter(new Date(), 3);
    const customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: dueAt, email, firstName: 'Zyxwvut', telephoneNumberNoCountryCode: '98765432' })).customerNumber!;
    await run('AddCustomerAccount', { customerAccountId: `acct-${customer}` }, customer);
    await run('DefinePreference', { key: 'seat' });
    await run('SetPreference', { key: 'seat', value: 'window' }, customer);

    const event = await deletedEvent(customer);
    const receivedAt = Date.now();
    expect(receivedAt - Date.parse(dueAt)).toBeLessThan(5_000);
    expect(event).toMatchObject({ reason: 'EXPIRED', profile: null, version: 4, organisationId: 1 });
    expect(await profileExists(customer)).toBe(false);

    const verification = await verifyErasure({ db: harness.mongo.db, redis }, { organisationId: 1, customerNumber: customer, values: [email, 'Zyxwvut', '98765432', `acct-${customer}`] });
    expect(verification.findings).toEqual([]);
    expect(verification.receipt).toMatchObject({ reason: 'EXPIRED', requestedAt: dueAt.replace(/Z$/, 'Z'), steps: ['profile', 'claims', 'jobs', 'event'] });
    expect(JSON.stringify(verification.receipt)).not.toMatch(/Zyxwvut|example\.com|98765432/);
    // What an operator sees: erasures done within seconds of their date.
    const metrics = await harness.metrics.registry.metrics();
    expect(metrics).toMatch(/^profiles_erasure_lag_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^profiles_erasure_lag_seconds_bucket\{le="5"\} [1-9]/m);

    // The email and the account are free again.
    const other = (await run('CreateProfile', { ...creator, firstName: 'New', surname: 'Owner', email })).customerNumber!;
    await run('AddCustomerAccount', { customerAccountId: `acct-${customer}` }, other);
  });

  it('a deactivated profile is erased at its deactivation date (DEACTIVATION_EXPIRED)', async () => {
    const customer = (await run('CreateProfile', { ...creator, firstName: 'Deac', surname: 'Tivated' })).customerNumber!;
    const dueAt = isoAfter(new Date(), 3);
    await run('DeactivateCustomer', { ...actor, expirationDate: dueAt }, customer);
    const event = await deletedEvent(customer);
    expect(Date.now() - Date.parse(dueAt)).toBeLessThan(5_000);
    expect(event).toMatchObject({ reason: 'DEACTIVATION_EXPIRED', version: 3, profile: null });
  });

  it('restore and convert cancel; a new expirationDate reschedules', async () => {
    const restored = (await run('CreateProfile', { ...creator, firstName: 'Re', surname: 'Stored' })).customerNumber!;
    const converted = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3) })).customerNumber!;
    const moved = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3) })).customerNumber!;
    const firstDate = isoAfter(new Date(), 3);
    await run('DeactivateCustomer', { ...actor, expirationDate: firstDate }, restored);
    await run('RestoreCustomer', actor, restored);
    await run('ConvertToPermanent', { ...actor, firstName: 'Con', surname: 'Verted' }, converted);
    const laterDate = isoAfter(new Date(), 8);
    await run('UpdateTemporaryProfile', { ...actor, expirationDate: laterDate }, moved);

    // Past the first dates (and a reconciliation or two): all three still there.
    await waitFor('the first dates to pass', () => Date.now() > Date.parse(firstDate) + 4_000, { timeoutMs: 15_000 });
    expect(await profileExists(restored)).toBe(true);
    expect(await profileExists(converted)).toBe(true);
    expect(await profileExists(moved)).toBe(true);
    await deletedEvent(moved);
    expect(Date.now() - Date.parse(laterDate)).toBeLessThan(5_000);
    expect(harness.eventsOf(restored).some((event) => event.eventType === 'DELETED')).toBe(false);
    expect(harness.eventsOf(converted).some((event) => event.eventType === 'DELETED')).toBe(false);
  });

  it('after Redis lost all its data, the reconciliation still erases on time', async () => {
    const dueAt = isoAfter(new Date(), 4);
    const customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: dueAt })).customerNumber!;
    const env = harness.config.env;
    await waitFor('the erasure job in Redis', async () => (await redis.keys(`profiles:erasures-${env}:erase-*`)).length > 0);
    // Everything this suite keeps in Redis is lost (not FLUSHALL: the Redis is shared with other test runs).
    await forgetQueues(redis, env);
    await deletedEvent(customer, 20_000);
    // Within one reconciliation interval (2 s here) of the date, plus the run itself.
    expect(Date.now() - Date.parse(dueAt)).toBeLessThan(2_000 + 5_000);
    expect(await profileExists(customer)).toBe(false);
  });

  it('an erasure job that failed for good is retried by the reconciliation: the customer is erased and nothing stays overdue', async () => {
    await harness.stopExpiryWorkers();
    let runs = 0;
    await harness.startExpiryWorkers({
      beforeStep: (step) => {
        // As BullMQ fails a job that stalled too often, or whose attempts an outage used up.
        if (step === 'profile' && runs++ === 0) throw new UnrecoverableError('simulated: the erasure job failed for good');
      },
    });
    const customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 2) })).customerNumber!;
    const event = await deletedEvent(customer, 30_000);
    expect(runs).toBe(2);
    expect(event).toMatchObject({ reason: 'EXPIRED', profile: null });
    expect(await profileExists(customer)).toBe(false);
    // What profiles_expirations_overdue is set from: back to 0 by itself.
    const queue = makeErasureQueue(harness.config.env, harness.config.redisUrl);
    try {
      const report = await makeReconciler({ db: harness.mongo.db, jobs: makeErasureJobs(queue), horizonMs: 20_000, clock: () => new Date() }).run();
      expect(report.overdue).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('an erasure interrupted mid-saga resumes and completes', async () => {
    await harness.stopExpiryWorkers();
    let crashes = 0;
    await harness.startExpiryWorkers({
      afterStep: (step) => {
        if (step === 'claims' && crashes++ === 0) throw new Error('simulated crash after the claims step');
      },
    });
    const dueAt = isoAfter(new Date(), 2);
    const customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: dueAt, email: `saga-${Date.now()}@example.com` })).customerNumber!;
    const event = await deletedEvent(customer, 30_000);
    expect(crashes).toBeGreaterThanOrEqual(1);
    expect(event).toMatchObject({ reason: 'EXPIRED' });
    const receipt = await waitFor('the receipt', () => harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${customer}` as never }).then((doc) => doc ?? undefined));
    expect(receipt).toMatchObject({ steps: ['profile', 'claims', 'jobs', 'event'], completedAt: expect.any(String) });
    expect(harness.eventsOf(customer).filter((e) => e.eventType === 'DELETED').map((e) => e.eventId)).toEqual([event.eventId]);
  });
  it('a saga overtaken by a newer one for the same customer (its job run twice) resumes that one: DELETED after the last version', async () => {
    await harness.stopExpiryWorkers();
    let customer = '';
    let overtaken = false;
    await harness.startExpiryWorkers({
      beforeStep: async (step) => {
        if (step !== 'profile' || overtaken) return;
        overtaken = true;
        // Meanwhile, elsewhere: a late change moves the still-due profile on, and a second run of
        // the job abandons this saga's start record, takes one at the new version and deletes the profile.
        await run('AddCustomerAccount', { customerAccountId: `late-${customer}` }, customer);
        const starts = harness.mongo.db.collection('erasuresInProgress');
        const mine = await starts.findOneAndDelete({ _id: `1:${customer}` as never });
        await starts.insertOne({ ...mine!, lastVersion: 2, startedAt: new Date().toISOString() });
        await harness.mongo.db.collection('profiles').deleteOne({ _id: customer as never });
      },
    });
    customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 2) })).customerNumber!;
    const event = await deletedEvent(customer, 30_000);
    expect(overtaken).toBe(true);
    expect(event).toMatchObject({ reason: 'EXPIRED', version: 3 });
    const receipt = await waitFor('the receipt', () => harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${customer}` as never }).then((doc) => doc ?? undefined));
    expect(receipt).toMatchObject({ lastVersion: 2 });
    expect(harness.eventsOf(customer).map((e) => `${e.eventType} ${e.version}`)).toEqual(['CREATED 1', 'UPDATED 2', 'DELETED 3']);
  });
  it('a merge that removes the temporary profile under a running erasure: one DELETED event (MERGED), no erasure receipt', async () => {
    await harness.stopExpiryWorkers();
    let temporary = '';
    let merged = false;
    const permanent = (await run('CreateProfile', { ...creator, firstName: 'P', surname: 'P' })).customerNumber!;
    await harness.startExpiryWorkers({
      beforeStep: async (step) => {
        if (step !== 'profile' || merged) return;
        merged = true;
        // Meanwhile, in the profile worker: the merge of the due temporary profile, decided before
        // the erasure started, is written and finished — the temporary profile removed.
        await harness.mongo.db.collection('profiles').updateOne({ _id: temporary as never }, { $set: { mergingInto: permanent } });
        await run('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, temporary);
      },
    });
    temporary = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 2) })).customerNumber!;
    await waitFor('the merge', () => merged && harness.eventsOf(temporary).some((event) => event.eventType === 'DELETED'), { timeoutMs: 30_000 });
    await waitFor('the erasure given up', async () => (await harness.mongo.db.collection('erasuresInProgress').countDocuments({ _id: `1:${temporary}` as never })) === 0);
    expect(harness.eventsOf(temporary).filter((event) => event.eventType === 'DELETED').map((event) => event.reason)).toEqual(['MERGED']);
    expect(await harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${temporary}` as never })).toMatchObject({ reason: 'MERGED' });
  });

  it('an entry of an older version, its relay step left open, goes out by the sweep before the erasure', async () => {
    const due = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 6) })).customerNumber!;
    await waitFor('the CREATED event', () => harness.eventsOf(due).length > 0);
    await harness.stopWorkers();
    // As an earlier build of the suite left it: its entries owed while its relay step is open.
    const profiles = harness.mongo.db.collection<{ _id: string; pending: { step?: string }[] }>('profiles');
    const doc = (await profiles.findOne({ _id: due }))!;
    await profiles.updateOne({ _id: due }, { $set: { pending: doc.pending.map((entry) => ({ ...entry, step: 'old-step' })) } });
    await harness.mongo.db.collection('relaySteps').insertOne({ _id: 'old-step' as never, profiles: [due], at: new Date(Date.now() - 120_000) });
    await harness.startWorker(); // its start-up sweep relays what `due` owes

    const event = await deletedEvent(due, 30_000);
    expect(event).toMatchObject({ reason: 'EXPIRED' });
    // Sent again before its DELETED event (at least once).
    expect(harness.eventsOf(due).map((sent) => sent.eventType)).toEqual(['CREATED', 'CREATED', 'DELETED']);
    expect(await harness.mongo.db.collection('relaySteps').countDocuments({ _id: 'old-step' as never })).toBe(0);
  });

  it('a deletion worker killed (SIGKILL) mid-saga: another one resumes and completes the erasure', async () => {
    await harness.stopExpiryWorkers();
    const { exited } = await startCrashingWorker({ worker: 'deletion', at: 'profile', database: harness.mongo.db.databaseName, env: { PROFILES_ENV: harness.config.env, ERASURE_LOCK_MS: '2000' } });
    // Only the scheduler runs in this process for now, so the job goes to the crashing eraser.
    await harness.startSchedulerOnly();
    const dueAt = isoAfter(new Date(), 2);
    const customer = (await run('CreateTemporaryProfile', { ...creator, expirationDate: dueAt })).customerNumber!;
    expect(await exited).toBe('SIGKILL');
    // Stopped half-way: the profile gone, the erasure recorded as started, no receipt yet.
    expect(await profileExists(customer)).toBe(false);
    expect(await harness.mongo.db.collection('erasuresInProgress').findOne({ _id: `1:${customer}` as never })).toMatchObject({ reason: 'EXPIRED', lastVersion: 1 });
    expect(await harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${customer}` as never })).toBeNull();

    await harness.startDeletionOnly();
    const event = await deletedEvent(customer, 30_000);
    expect(event).toMatchObject({ reason: 'EXPIRED', profile: null, version: 2 });
    const receipt = await waitFor('the receipt', () => harness.mongo.db.collection('erasureReceipts').findOne({ _id: `1:${customer}` as never }).then((doc) => doc ?? undefined));
    expect(receipt).toMatchObject({ steps: ['profile', 'claims', 'jobs', 'event'], completedAt: expect.any(String) });
    await waitFor('the start record gone', async () => (await harness.mongo.db.collection('erasuresInProgress').countDocuments({ _id: `1:${customer}` as never })) === 0);
  });
});
