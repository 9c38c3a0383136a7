import { afterEach, describe, expect, it } from 'vitest';
import { makeKafka, makeProducer, topicConfigOf } from '../../shared/kafka.ts';
import { readSchemaFile } from '../../shared/avro.ts';
import { republish } from '../../scripts/republish.ts';
import type { CustomerChanged } from '../../workers/profile/model.ts';
import { actor, creator, isoAfter } from '../helpers/factories.ts';
import { startProfileHarness, type ProfileHarness } from '../helpers/profileHarness.ts';
import { cleanup, randomName, testLogger, waitFor } from '../helpers/services.ts';
import { readToEnd } from '../helpers/topicReader.ts';
import { makeRedis } from '../../shared/redis.ts';
import { verifyErasure } from '../../scripts/verifyErasure.ts';

/**
 * An organisation the harness did not create a topic for: the suite creates it (with
 * EVENT_PARTITIONS), the test removes it. `run` sends a command of that organisation and expects
 * it accepted.
 */
async function ownOrganisation(h: ProfileHarness, organisationId: number) {
  const kafka = makeKafka({ brokers: h.config.kafka.brokers, clientId: randomName(`org-${organisationId}`), logger: testLogger() });
  const topic = h.names.customerChanged(organisationId);
  const admin = kafka.admin();
  await admin.connect();
  cleanup(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });
  const run = async (type: string, payload: Record<string, unknown>, customerNumber?: string) => {
    const result = await h.run(type, payload, customerNumber, { organisationId });
    expect(result, `${type}: ${result.message}`).toMatchObject({ status: 'ACCEPTED' });
    return result;
  };
  return { kafka, admin, topic, run };
}

/** SPEC §2, §6: the topics the suite owns are configured so that personal data leaves Kafka too. */
describe('what Kafka keeps: compacted event topics, bounded retention (SPEC §2, §6)', () => {
  let harness: ProfileHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('topics created before the suite (by an older version, by hand) are aligned at start-up: event topics compacted with the configured lags, commands and DLQ with their retention', async () => {
    // The harness creates the command, DLQ and event topics with the broker defaults before the worker starts.
    harness = await startProfileHarness({ env: { EVENT_MIN_COMPACTION_LAG_MS: '1000', EVENT_MAX_COMPACTION_LAG_MS: '600000', COMMAND_RETENTION_MS: '3600000', DLQ_RETENTION_MS: '7200000' } });
    const h = harness;
    const admin = makeKafka({ brokers: h.config.kafka.brokers, clientId: randomName('align'), logger: testLogger() }).admin();
    await admin.connect();
    try {
      const configOf = (topic: string) => topicConfigOf(admin, topic);
      for (const organisation of [1, 2]) {
        expect(await configOf(h.names.customerChanged(organisation))).toMatchObject({ 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '1000', 'max.compaction.lag.ms': '600000', 'segment.ms': '600000' });
      }
      expect(await configOf(h.names.commands)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '3600000' });
      expect(await configOf(h.names.dlq)).toMatchObject({ 'cleanup.policy': 'delete', 'retention.ms': '7200000' });
    } finally {
      await admin.disconnect();
    }
    // And the suite works as ever on them.
    expect(await h.run('CreateProfile', { createdBy: 'agent-7', createdByChannel: 'web', firstName: 'A', surname: 'B' })).toMatchObject({ status: 'ACCEPTED' });
  });

  it('an erased customer\'s snapshots leave the event topic: compaction keeps only its DELETED event', async () => {
    // Organisation 3's topic is created by the suite itself, with one partition so that the later
    // events of another customer roll its segments.
    harness = await startProfileHarness({ expiry: true, env: { EVENT_MIN_COMPACTION_LAG_MS: '0', EVENT_MAX_COMPACTION_LAG_MS: '5000', EVENT_PARTITIONS: '1' } });
    const h = harness;
    const { kafka, topic, run } = await ownOrganisation(h, 3);
    const name = `Zyxwvu-${Date.now()}`;
    const erased = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 4), firstName: name, email: `${name}@example.com` })).customerNumber!;
    await run('UpdateTemporaryProfile', { ...actor, expirationDate: isoAfter(new Date(), 4), firstName: name, surname: 'Snapshot' }, erased);
    const other = (await run('CreateProfile', { ...creator, firstName: 'Other', surname: 'One' })).customerNumber!;

    const recordsOf = async (customerNumber: string) => {
      const read = await readToEnd(kafka, [topic]);
      const events: CustomerChanged[] = [];
      for (const { message } of read) if (message.key?.toString() === customerNumber) events.push((await h.codec.decode(message.value!)).value as CustomerChanged);
      return events;
    };
    await waitFor('the DELETED event', async () => (await recordsOf(erased)).some((event) => event.eventType === 'DELETED'), { timeoutMs: 30_000 });
    // The auditor's view: erased in MongoDB, its snapshots still in Kafka, each with its deadline.
    const redis = makeRedis(h.config.redisUrl);
    cleanup(() => redis.disconnect());
    const view = { kafka, codec: h.codec, topic, maxCompactionLagMs: 5_000 };
    const target = { organisationId: 3, customerNumber: erased, values: [name] };
    await waitFor('the erasure receipt', () => h.mongo.db.collection('erasureReceipts').findOne({ _id: `3:${erased}` as never }).then((receipt) => receipt?.['completedAt'] ?? undefined));
    // The receipt says when the customer was created: the verifier reads the topic from there.
    expect(await h.mongo.db.collection('erasureReceipts').findOne({ _id: `3:${erased}` as never })).toMatchObject({ customerSince: expect.any(String) });
    const before = await verifyErasure({ db: h.mongo.db, redis, kafka: view }, target);
    expect(before.complete).toBe(false);
    expect(before.pendingInKafka.map((record) => record.eventType)).toEqual(['CREATED', 'UPDATED']);
    for (const record of before.pendingInKafka) expect(Date.parse(record.removableBy)).toBeGreaterThan(Date.parse(record.writtenAt));
    // Past their bound (a lag of 1 ms, as if compaction were long overdue) the same records are traces.
    const overdue = await verifyErasure({ db: h.mongo.db, redis, kafka: { ...view, maxCompactionLagMs: 1 } }, target);
    expect(overdue.pendingInKafka).toEqual([]);
    expect(overdue.findings.filter((finding) => finding.what.startsWith('personal data past its compaction bound'))).toHaveLength(2);

    // Other customers' changes go on (a segment rolls on the first append after its maximum age);
    // the cleaner then keeps the erased customer's latest record only.
    let surname = 0;
    const left = await waitFor(
      'the erased customer\'s snapshots compacted away',
      async () => {
        await run('UpdateProfile', { ...actor, surname: `S${surname++}` }, other);
        const records = await recordsOf(erased);
        return records.every((event) => event.profile === null) ? records : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    expect(left.map((event) => event.eventType)).toEqual(['DELETED']);
    expect(JSON.stringify(left)).not.toContain(name);
    const after = await verifyErasure({ db: h.mongo.db, redis, kafka: view }, target);
    expect(after.pendingInKafka).toEqual([]);
    expect(after.findings.filter((finding) => !finding.where.startsWith('redis'))).toEqual([]); // Redis is shared with other tests' customer numbers
  }, 150_000);

  it('a new subscriber reading an organisation\'s topic from the beginning, after compaction, loads exactly the live customers\' latest snapshots', async () => {
    harness = await startProfileHarness({ expiry: true, env: { EVENT_MIN_COMPACTION_LAG_MS: '0', EVENT_MAX_COMPACTION_LAG_MS: '5000', EVENT_PARTITIONS: '1' } });
    const h = harness;
    const { kafka, topic, run } = await ownOrganisation(h, 4);
    const live: string[] = [];
    for (let index = 0; index < 8; index++) live.push((await run('CreateProfile', { ...creator, firstName: 'Live', surname: `L${index}` })).customerNumber!);
    const erased: string[] = [];
    for (let index = 0; index < 3; index++) erased.push((await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 3), firstName: `Gone${index}` })).customerNumber!);
    for (const [index, customer] of live.entries()) for (let round = 0; round < index % 3; round++) await run('UpdateProfile', { ...actor, surname: `L${index}-${round}` }, customer);

    /** What a subscriber following docs/commands.md's "Loading an organisation's current state" ends with. */
    const load = async () => {
      const state = new Map<string, CustomerChanged>();
      for (const { message } of await readToEnd(kafka, [topic])) {
        const event = (await h.codec.decode(message.value!)).value as CustomerChanged;
        const held = state.get(event.customerNumber);
        if (event.eventType === 'DELETED') state.delete(event.customerNumber);
        else if (!held || held.version < event.version) state.set(event.customerNumber, event);
      }
      return state;
    };
    const snapshotsOf = async (customers: string[]) => {
      const read = await readToEnd(kafka, [topic]);
      const records: CustomerChanged[] = [];
      for (const { message } of read) if (customers.includes(message.key!.toString())) records.push((await h.codec.decode(message.value!)).value as CustomerChanged);
      return records.filter((event) => event.profile !== null);
    };
    await waitFor('the erasures', async () => (await load()).size === live.length, { timeoutMs: 30_000 });
    let round = 0;
    await waitFor('the erased customers compacted away', async () => {
      await run('UpdateProfile', { ...actor, surname: `tick-${round++}` }, live[0]);
      return (await snapshotsOf(erased)).length === 0;
    }, { timeoutMs: 90_000, intervalMs: 1_000 });

    const loaded = await load();
    const stored = await h.mongo.db.collection<{ _id: string; version: number; surname: string }>('profiles').find({ _id: { $in: [...live, ...erased] } }).toArray();
    expect([...loaded.keys()].sort()).toEqual([...live].sort());
    expect(stored.map((doc) => doc._id).sort()).toEqual([...live].sort());
    for (const doc of stored) expect(loaded.get(doc._id)).toMatchObject({ version: doc.version, profile: { surname: doc.surname } });
  }, 180_000);

  it('a lost topic is rebuilt from MongoDB: each live customer\'s latest event and each erased one\'s DELETED event, with their eventIds', async () => {
    harness = await startProfileHarness({ expiry: true, env: { EVENT_PARTITIONS: '1' } });
    const h = harness;
    const { kafka, admin, topic, run } = await ownOrganisation(h, 5);
    const changed = (await run('CreateProfile', { ...creator, firstName: 'A', surname: 'A0' })).customerNumber!;
    await run('UpdateProfile', { ...actor, surname: 'A1' }, changed);
    await run('UpdateProfile', { ...actor, surname: 'A2' }, changed);
    const created = (await run('CreateProfile', { ...creator, firstName: 'B', surname: 'B0' })).customerNumber!;
    const erased = (await run('CreateTemporaryProfile', { ...creator, expirationDate: isoAfter(new Date(), 2), firstName: 'C' })).customerNumber!;
    const latest = async () => {
      const state = new Map<string, CustomerChanged>();
      for (const { message } of await readToEnd(kafka, [topic])) {
        const event = (await h.codec.decode(message.value!)).value as CustomerChanged;
        if ((state.get(event.customerNumber)?.version ?? 0) < event.version) state.set(event.customerNumber, event);
      }
      return state;
    };
    const before = await waitFor('the erasure', async () => {
      const state = await latest();
      return state.get(erased)?.eventType === 'DELETED' ? state : undefined;
    }, { timeoutMs: 30_000 });

    // The topic is lost.
    await admin.deleteTopics({ topics: [topic] });
    await waitFor('the topic gone', async () => !(await admin.listTopics()).includes(topic));
    const producer = makeProducer(kafka);
    await producer.connect();
    cleanup(() => producer.disconnect());
    const schema = await h.codec.register(await readSchemaFile(new URL('../../schemas/CustomerChanged.avsc', import.meta.url)));
    const summary = await republish({ db: h.mongo.db, admin, producer, codec: h.codec, schema, config: h.config }, 5);
    expect(summary).toMatchObject({ topic, live: 2, erased: 1 });

    const after = await latest();
    expect([...after.keys()].sort()).toEqual([changed, created, erased].sort());
    for (const customer of [changed, created, erased]) {
      const [original, rebuilt] = [before.get(customer)!, after.get(customer)!];
      expect({ eventId: rebuilt.eventId, version: rebuilt.version, profile: rebuilt.profile, reason: rebuilt.reason }).toEqual({ eventId: original.eventId, version: original.version, profile: original.profile, reason: original.reason });
    }
    expect(after.get(changed)).toMatchObject({ version: 3, profile: { surname: 'A2' } });

    // A customer erased while republished: the snapshot read before the erasure must not stay the
    // last record of its key (the one compaction keeps).
    const lastRecordOf = async (customer: string) => {
      let last: CustomerChanged | undefined;
      for (const { message } of await readToEnd(kafka, [topic])) if (message.key!.toString() === customer) last = (await h.codec.decode(message.value!)).value as CustomerChanged;
      return last;
    };
    await republish({
      db: h.mongo.db, admin, producer, codec: h.codec, schema, config: h.config, receiptWaitMs: 30_000,
      afterRead: async (numbers) => {
        if (!numbers.includes(created)) return;
        // What the erasure saga does meanwhile: the profile goes, the receipt comes a moment later.
        const gone = await h.mongo.db.collection('profiles').findOneAndDelete({ _id: created as never });
        setTimeout(() => {
          const now = new Date().toISOString();
          void h.mongo.db.collection('erasureReceipts').insertOne({ _id: `5:${created}` as never, organisationId: 5, customerNumber: created, reason: 'EXPIRED', requestedAt: now, startedAt: now, completedAt: now, lastVersion: gone!['version'], steps: ['profile', 'claims', 'jobs', 'event'] });
        }, 1_500);
      },
    }, 5);
    expect(await lastRecordOf(created)).toMatchObject({ eventType: 'DELETED', version: 2, profile: null });
  }, 120_000);
});
