// The outbox: what a profile write owes the outside world travels inside that same write (the
// profile's `pending` entries: its events and its command's result), and a relay step recorded
// just before the write names the profiles it writes. After the write the relay makes the results
// durable (so a redelivered command gets the same answer), sends events, results and DLQ records
// in one batched produce, and closes the steps it settled. A step left open by a crash is relayed
// by the redelivery of its commands or, failing that, by the sweep. Entries of closed steps stay in
// their profile until it is next written (clearing them would cost an update per profile).
import type { Admin, Message, Producer } from 'kafkajs';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import type { AvroCodec, RegisteredType } from './avro.ts';
import { toProfile, type ProfileDoc } from './customers/document.ts';
import { publicProfile } from './customers/events.ts';
import type { CommandResult, CustomerChanged, Profile } from './customers/model.ts';
import { makeEventPublisher } from './customers/publisher.ts';
import { customersWithReceipts } from './erasureReceipts.ts';
import { erasureDueOf, type ScheduleRecord } from './expiry.ts';
import { makeTopicLimits, sendInChunks, type SendOptions, type UnalignedTopic } from './kafka.ts';
import type { Logger } from './logger.ts';
import { byIds, findUpTo, inTurn } from './mongo/compat.ts';
import type { Mongo } from './mongo/connect.ts';
import type { TopicConfig } from './topicConfigs.ts';
import { correlationIdHeader, type Topics } from './topics.ts';
import { traceHeaders, type TraceContext } from './tracing.ts';

/** The idempotency key of a command: its results are stored under it (per organisation). */
export const commandKey = (organisationId: number | null, commandId: string) => `${organisationId ?? 0}:${commandId}`;

/** A result sent on its own, not inside a profile's pending entries (rejections, no-ops, replays, definitions). */
export type LooseResult = {
  key: string | null;
  result: CommandResult;
  order: number;
  /** The trace context the result is sent in (its command's, continued); absent: a new trace. */
  trace?: TraceContext;
};

/** What a change owes the outside world; removed once relayed. */
export type PendingEntry = {
  commandId: string | null;
  /** Kafka key of the result (the command's key). */
  resultKey: string | null;
  result: CommandResult | null;
  events: CustomerChanged[];
  /**
   * The trace context its result and events are sent in (its command's, continued): kept in the
   * entry, so that a relay by another process after a crash sends them in it too. Absent in entries
   * of older versions of the suite: they are sent in a new trace.
   */
  trace?: TraceContext;
};

/**
 * A pending entry as stored: its result and events as one JSON string (the server never looks
 * inside them, and the local server re-encodes every nested field of a document it updates),
 * and the relay step that owes it.
 */
export type StoredEntry = { commandId: string | null; resultKey: string | null; step: string; body: string };

/**
 * A relay step: the profiles one decision wrote, recorded before they are written and removed once
 * what they owe has gone out. A pending entry whose step is gone has been relayed; it stays in its
 * profile until that profile is next written (clearing it would cost an update per profile).
 */
export type RelayStep = {
  _id: string;
  profiles: string[];
  /**
   * The version each profile's write was decided on (null: a creation), by index of `profiles`:
   * a profile without the step's entries can still receive them while it is at that version (or,
   * for a creation, absent), so the step stays open until then. Absent in steps of older versions
   * of the suite: their entries must then be seen.
   */
  versions?: (number | null)[];
  /** The organisation of each profile, by index of `profiles` (where its receipt is looked up). */
  organisations?: number[];
  /**
   * Profiles of the step that owe it nothing any more (their entries went out, or its write can no
   * longer reach them) while others still might: their erasure need not wait for the others.
   */
  settled?: string[];
  at: Date;
};

/** An open step as the relay needs it: which profiles it writes, at which versions. */
export type OpenStep = Pick<RelayStep, 'profiles' | 'versions' | 'organisations' | 'settled'>;

/**
 * What the relay knows of a profile a step writes: the document (as written, or read after the
 * write), `'absent'` (looked up, not there, and no receipt: never created, or gone without one),
 * `'erased'` (looked up, not there, with an erasure or merge receipt: it existed), or undefined (not
 * looked at).
 */
export type ProfileSeen = ProfileDoc | 'absent' | 'erased' | undefined;

/**
 * Whether the step owes this profile (its `index`-th) nothing after this publish: the profile holds
 * the step's entries (sent now), or can no longer receive them — the write was version-guarded and
 * the profile moved past that version, was created by another write, or is gone. A creation whose
 * profile is absent without a receipt may still be inserted: not settled.
 */
export function profileSettled(id: string, step: OpenStep, index: number, doc: ProfileSeen): boolean {
  const number = step.profiles[index]!;
  if (step.settled?.includes(number)) return true;
  if (doc === undefined) return false;
  if (typeof doc === 'object' && doc.pending.some((entry) => entry.step === id)) return true;
  const expected = step.versions?.[index];
  if (expected === undefined) return false;
  if (doc === 'erased') return true; // existed and was erased or merged: no write can bring it back
  if (doc === 'absent') return expected !== null; // a replace cannot bring it back; an insert could still come
  return expected === null || doc.version > expected;
}

/** Whether everything a step owes went out: every one of its profiles is settled (see {@link profileSettled}). */
export function stepSettled(id: string, step: OpenStep, seen: (number: string) => ProfileSeen): boolean {
  return step.profiles.every((number, index) => profileSettled(id, step, index, seen(number)));
}

/**
 * In a stored entry, the profile of an event that is the document's own (the event of the write
 * that stored it): not stored twice. It was most of an entry, and the local server decodes every
 * byte of a profile on each read and write of it.
 */
const theDocument = 'document';

/**
 * A pending entry as stored, in `written`'s document when given: an event of that version of that
 * customer carries {@link theDocument} instead of its profile.
 */
export function packEntry({ commandId, resultKey, result, events, trace }: PendingEntry, step: string, written?: Profile): StoredEntry {
  const stored = written
    ? events.map((event) => (event.profile && event.customerNumber === written.customerNumber && event.version === written.version ? { ...event, profile: theDocument } : event))
    : events;
  return { commandId, resultKey, step, body: JSON.stringify(trace ? { result, events: stored, trace } : { result, events: stored }) };
}

type StoredBody = Pick<PendingEntry, 'result' | 'trace'> & { events: (Omit<CustomerChanged, 'profile'> & { profile: CustomerChanged['profile'] | typeof theDocument })[] };

const unpack = (doc: ProfileDoc, { commandId, resultKey, body }: StoredEntry): PendingEntry => {
  const { events, ...rest } = JSON.parse(body) as StoredBody;
  const own = events.some((event) => event.profile === theDocument) ? publicProfile(toProfile(doc)) : null;
  return { commandId, resultKey, ...rest, events: events.map((event) => (event.profile === theDocument ? { ...event, profile: own } : { ...event, profile: event.profile })) };
};

export const entriesOf = (doc: ProfileDoc): PendingEntry[] => doc.pending.map((entry) => unpack(doc, entry));

/**
 * The document's entries, to go into a later write of it: those that point at this version's
 * profile carry it again (the later write is another version).
 */
export const carriedEntries = (doc: ProfileDoc): StoredEntry[] =>
  doc.pending.map((entry) => (entry.body.includes(`"profile":"${theDocument}"`) ? packEntry(unpack(doc, entry), entry.step) : entry));

/** The profile with only the entries still owed (their step still open, and not settled for it). */
export const owedOf = (doc: ProfileDoc, openSteps: ReadonlyMap<string, OpenStep>): ProfileDoc => ({
  ...doc,
  pending: doc.pending.filter((entry) => {
    const step = openSteps.get(entry.step);
    return step !== undefined && !step.settled?.includes(doc._id);
  }),
});

export const stepsOf = (docs: Iterable<ProfileDoc>) => new Set([...docs].flatMap((doc) => doc.pending.map((entry) => entry.step)));

/**
 * Results looked for already (with the profiles): `ids` asked for, `results` found. A result
 * stored since then by another process makes its insert collide, and is read then.
 */
export type CheckedResults = { ids: ReadonlySet<string>; results: ReadonlyMap<string, CommandResult> };

export type OutboxSteps = ReturnType<typeof makeOutboxSteps>;

/** The relay steps (`relaySteps`): recorded before a write, closed once what it owes went out. */
export function makeOutboxSteps(mongo: Pick<Mongo, 'db' | 'writes'>) {
  const relaySteps: Collection<RelayStep> = mongo.db.collection('relaySteps');
  const write = mongo.writes.turn;
  // Group commit: the steps in flight at once (one per partition) open, settle and close theirs in
  // one statement each.
  const perGroup = 64;
  const insertSteps = mongo.writes.grouped<RelayStep, void>(
    async (steps) => {
      await inTurn.insertOnce(relaySteps, steps);
      return steps.map(() => undefined);
    },
    { max: perGroup },
  );
  const deleteSteps = mongo.writes.grouped<string[], void>(
    async (batch) => {
      await relaySteps.deleteMany({ _id: { $in: [...new Set(batch.flat())] } });
      return batch.map(() => undefined);
    },
    { max: perGroup },
  );
  const updateSteps = mongo.writes.grouped<AnyBulkWriteOperation<RelayStep>[], void>(
    async (batch) => {
      await inTurn.bulkWrite(relaySteps, batch.flat());
      return batch.map(() => undefined);
    },
    { max: perGroup },
  );
  return {
    /** Records a relay step before its profiles are written, with the version each write expects. */
    async openStep(step: string, writes: { customerNumber: string; organisationId: number; expectedVersion: number | null }[]): Promise<void> {
      const profiles = writes.map((entry) => entry.customerNumber);
      const versions = writes.map((entry) => entry.expectedVersion);
      const organisations = writes.map((entry) => entry.organisationId);
      await insertSteps({ _id: step, profiles, versions, organisations, at: new Date() });
    },

    /** Which of these steps are still open (not yet relayed), with the profiles each writes. */
    async openSteps(steps: Iterable<string>): Promise<Map<string, OpenStep>> {
      return new Map([...(await byIds(relaySteps, steps))].map(([id, { _id, at: _at, ...open }]) => [id, open]));
    },

    /** Records profiles a still open step owes nothing any more (one update per step). */
    async settleProfiles(settled: Map<string, string[]>): Promise<void> {
      if (settled.size === 0) return;
      await updateSteps([...settled].map(([step, numbers]) => ({ updateOne: { filter: { _id: step }, update: { $addToSet: { settled: { $each: numbers } } } } })));
    },

    /** Steps the sweep found still owed but not settled: looked at again after the others. */
    async postponeSteps(steps: string[]): Promise<void> {
      if (steps.length > 0) await write(() => relaySteps.updateMany({ _id: { $in: steps } }, { $set: { at: new Date() } }));
    },

    /** Steps relayed: one delete for all of them. */
    async closeSteps(steps: Iterable<string>): Promise<void> {
      const ids = [...new Set(steps)];
      if (ids.length > 0) await deleteSteps(ids);
    },

    /**
     * Steps left open by a process that stopped between its write and its relay: older than
     * `olderThanMs`, so that a step in flight in another process is left to finish.
     */
    findStaleSteps: (limit: number, olderThanMs: number) =>
      findUpTo(relaySteps, { at: { $lt: new Date(Date.now() - olderThanMs) } }, limit),

    /** Whether a profile still has changes to relay (entries of a step not yet closed, nor settled for it). */
    async hasUnrelayed(profile: ProfileDoc): Promise<boolean> {
      const steps = [...new Set(profile.pending.map((entry) => entry.step))];
      if (steps.length === 0) return false;
      // A step still open for other profiles but settled for this one owes it nothing.
      const open = await byIds(relaySteps, steps, { projection: { settled: 1 } });
      return [...open.values()].some((step) => !(step.settled ?? []).includes(profile._id));
    },
  };
}

export type DlqRecord = { key: Buffer | null; value: Buffer | null; headers: Record<string, string | Buffer> };

export type Relay = {
  /**
   * Sends what the profiles still owe (entries of open steps), the results and DLQ records, then
   * closes the steps this settled (see `stepSettled`) and returns the open steps it left open.
   * `lookedUp`: numbers read from MongoDB for this call; those missing from `profiles` are gone —
   * `erased` if they have a receipt.
   * `steps`: open steps to settle besides those found in the profiles (the sweep's).
   */
  publish: (input: {
    profiles?: ProfileDoc[];
    lookedUp?: Iterable<string>;
    erased?: ReadonlySet<string>;
    steps?: Iterable<string>;
    /**
     * Open steps known already (read with the profiles, or just opened): not read again. Entries of
     * steps closed since are sent again (at least once) and their close is a no-op.
     */
    open?: ReadonlyMap<string, OpenStep>;
    /** Results looked for already (with the profiles): not read again before they are stored. */
    stored?: CheckedResults;
    results?: LooseResult[];
    dlq?: DlqRecord[];
    order?: (commandId: string) => number;
  }) => Promise<string[]>;
};

export function makeRelay(deps: {
  producer: Producer;
  admin: Admin;
  codec: AvroCodec;
  schemas: { result: RegisteredType; event: RegisteredType };
  topics: Topics;
  eventPartitions: number;
  /** Configuration of each organisation's event topic: set when the relay creates it, aligned when it exists. */
  eventTopicConfig?: TopicConfig;
  /** Event topics whose configuration could not be aligned (for /readyz). */
  onUnaligned?: (topics: UnalignedTopic[]) => void;
  logger?: Logger;
  /** The outbox's steps (see {@link makeOutboxSteps}). */
  steps: Pick<OutboxSteps, 'openSteps' | 'closeSteps' | 'settleProfiles'>;
  /** Where results are made durable, first stored wins (the profile worker's `commands`). */
  results: { put: (results: { _id: string; result: CommandResult; resultKey: string }[], checked?: CheckedResults) => Promise<Map<string, CommandResult>> };
  /** Shortens what would not fit its topic (see workers/profile/fit.ts). */
  fit?: SendOptions['fit'];
  /** Called after a produce with what it carried (metrics). */
  onPublished?: (sent: { events: CustomerChanged[]; dlq: number }) => void;
}): Relay {
  const { producer, codec, schemas, topics, steps: store } = deps;
  // Every record sent fits its topic's max.message.bytes.
  const limits = makeTopicLimits(deps.admin);
  const publisher = makeEventPublisher({
    admin: deps.admin,
    codec,
    schema: schemas.event,
    topics,
    eventPartitions: deps.eventPartitions,
    ...(deps.eventTopicConfig ? { eventTopicConfig: deps.eventTopicConfig } : {}),
    ...(deps.onUnaligned ? { onUnaligned: deps.onUnaligned } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });

  const resultMessage = (key: string | null, result: CommandResult, trace: TraceContext | undefined): Message => ({
    key,
    value: codec.encode(schemas.result, result),
    headers: { [correlationIdHeader]: result.correlationId, ...traceHeaders(trace) },
  });

  const scheduleMessage = (event: CustomerChanged): Message => {
    const due = event.profile ? erasureDueOf(event.profile) : null;
    const record: ScheduleRecord = { organisationId: event.organisationId, customerNumber: event.customerNumber, version: event.version, dueAt: due?.dueAt ?? null };
    return { key: `${event.organisationId}:${event.customerNumber}`, value: JSON.stringify(record) };
  };

  return {
    async publish({ profiles: written = [], lookedUp = [], erased = new Set(), steps: extraSteps = [], open: known = new Map(), stored: storedBefore, results = [], dlq = [], order = () => -1 }) {
      // Only what is still owed: entries of relay steps not yet closed.
      const steps = new Set([...stepsOf(written), ...extraSteps]);
      const unknown = [...steps].filter((id) => !known.has(id));
      const open = new Map<string, OpenStep>([...steps].flatMap((id) => (known.has(id) ? [[id, known.get(id)!] as const] : [])));
      if (unknown.length > 0) for (const [id, step] of await store.openSteps(unknown)) open.set(id, step);
      const profiles = written.map((doc) => owedOf(doc, open)).filter((doc) => doc.pending.length > 0);
      const entries = profiles.flatMap(entriesOf);
      const events = entries.flatMap((entry) => entry.events);
      const eventTraces = entries.flatMap((entry) => entry.events.map(() => entry.trace));
      const pendingResults: LooseResult[] = entries.flatMap((entry) =>
        entry.result && entry.commandId ? [{ key: entry.resultKey, result: entry.result, order: order(entry.commandId), ...(entry.trace ? { trace: entry.trace } : {}) }] : [],
      );
      const allResults = [...pendingResults, ...results].sort((a, b) => a.order - b.order);
      // Without an organisation there is no safe idempotency key: such results are sent, not stored.
      const idOf = (result: CommandResult) => (result.commandId !== '' && result.organisationId !== null ? commandKey(result.organisationId, result.commandId) : null);
      const stored = await deps.results.put(
        allResults.flatMap(({ key, result }) => {
          const _id = idOf(result);
          return _id ? [{ _id, result, resultKey: key ?? '' }] : [];
        }),
        storedBefore,
      );
      // A result stored first (by another process deciding the same command) is the one the client gets.
      const outgoing = allResults.map((entry) => ({ ...entry, result: stored.get(idOf(entry.result) ?? '') ?? entry.result }));

      const eventMessages = await publisher.topicMessages(events, eventTraces);

      // Every change tells the scheduler when (or that no longer) the customer is to be erased.
      const schedule = events.map(scheduleMessage);

      const topicMessages = [
        ...eventMessages,
        ...(outgoing.length > 0 ? [{ topic: topics.results, messages: outgoing.map(({ key, result, trace }) => resultMessage(key, result, trace)) }] : []),
        ...(dlq.length > 0 ? [{ topic: topics.dlq, messages: dlq }] : []),
        ...(schedule.length > 0 ? [{ topic: topics.expirations, messages: schedule }] : []),
      ];
      await sendInChunks(producer, topicMessages, { limits, ...(deps.fit ? { fit: deps.fit } : {}) });
      deps.onPublished?.({ events, dlq: dlq.length });

      // A step is done when every profile it writes is settled here; else the rest is still owed
      // (a redelivery or the sweep relays it).
      const sent = new Map<string, ProfileSeen>(written.map((doc) => [doc._id, doc]));
      for (const number of lookedUp) if (!sent.has(number)) sent.set(number, erased.has(number) ? 'erased' : 'absent');
      const settled = [...open].filter(([id, step]) => stepSettled(id, step, (number) => sent.get(number)));
      await store.closeSteps(settled.map(([id]) => id));
      // A step still open for some of its profiles is done with the others: recorded, so that they
      // are not sent again and their erasure does not wait for the rest.
      const unsettled = [...open].filter(([id]) => !settled.some(([done]) => done === id));
      const partly = new Map<string, string[]>();
      for (const [id, step] of unsettled) {
        const done = step.profiles.filter((number, index) => !step.settled?.includes(number) && profileSettled(id, step, index, sent.get(number)));
        if (done.length > 0) partly.set(id, done);
      }
      await store.settleProfiles(partly);
      return unsettled.map(([id]) => id);
    },
  };
}

/**
 * Relays what was written but never relayed: steps older than `minAgeMs` (younger ones may still
 * be relayed by the process that wrote them). A step whose write may still come (its process slow,
 * or stopped before it: then its redelivery writes anew) stays open, looked at again after the others.
 */
export async function sweepOutbox(deps: {
  db: Db;
  steps: Pick<OutboxSteps, 'findStaleSteps' | 'postponeSteps'>;
  relay: Relay;
  findProfiles: (numbers: Iterable<string>) => Promise<Map<string, ProfileDoc>>;
  logger: Logger;
  minAgeMs: number;
}): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const stale = await deps.steps.findStaleSteps(100, deps.minAgeMs);
    if (stale.length === 0) return;
    const numbers = [...new Set(stale.flatMap((step) => step.profiles))];
    deps.logger.info({ steps: stale.length, profiles: numbers.length }, 'relaying changes left unrelayed');
    const staleIds = new Set(stale.map((step) => step._id));
    const found = await deps.findProfiles(numbers);
    const missing = stale.flatMap((step) =>
      step.profiles.flatMap((customerNumber, index) => {
        const organisationId = step.organisations?.[index];
        return !found.has(customerNumber) && organisationId !== undefined ? [{ organisationId, customerNumber }] : [];
      }),
    );
    const erased = await customersWithReceipts(deps.db, missing);
    const unsettled = await deps.relay.publish({ profiles: [...found.values()], lookedUp: numbers, erased, steps: staleIds });
    await deps.steps.postponeSteps(unsettled.filter((id) => staleIds.has(id)));
  }
}
