// The outbox: what a profile write owes the outside world travels inside that same write (the
// profile's `pending` entries: each a command's result, with its events when it changed the
// profile). After the write the relay sends events, results and DLQ records in one batched produce,
// and then stores the entries' results: a stored result is the mark that its entry went out (and
// the answer a redelivered command gets). An entry whose result is not stored is owed. A crash
// between the write and that store leaves the batch's offsets uncommitted, so the redelivery of its
// commands finds the entries in their profiles and relays them again (at least once); any other
// write of such a profile carries them and relays them too. Entries that went out stay in their
// profile until it is next written (clearing them would cost an update per profile).
//
// Results without an entry (rejections and no-ops with no write of their profile after them,
// replays, preference definitions) are stored before the produce instead: the first stored wins,
// and is the one sent, so that two processes deciding one command (a rebalance) send one answer.
//
// Entries written by earlier builds of the suite name a relay step (`relaySteps`) recorded
// before their write: they are owed while that step is open, and the sweep relays and closes steps
// left open (see {@link sweepLegacySteps}).
import type { Admin, Message, Producer } from 'kafkajs';
import type { Collection } from 'mongodb';
import type { AvroCodec, RegisteredType } from './avro.ts';
import { toProfile, type ProfileDoc } from './customers/document.ts';
import { publicProfile } from './customers/events.ts';
import type { CommandResult, CustomerChanged, Profile } from './customers/model.ts';
import { makeEventPublisher } from './customers/publisher.ts';
import { erasureDueOf, type ScheduleRecord } from './expiry.ts';
import { makeTopicLimits, sendInChunks, type SendOptions, type UnalignedTopic } from './kafka.ts';
import type { Logger } from './logger.ts';
import { byIds, findUpTo, groupedByIds } from './mongo/compat.ts';
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

/** What a command's write owes the outside world: its result, and its events if it changed the profile. */
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
  /**
   * True when neither the profile before this entry's change nor after it is due for erasure: the
   * scheduler has nothing to do about it (no job can be waiting for it), so no schedule record goes
   * out. Absent in merges and in entries of older versions of the suite: their records go out.
   */
  undated?: true;
};

/**
 * A pending entry as stored: its result and events as one JSON string (the server never looks
 * inside them, and the local server re-encodes every nested field of a document it updates).
 * `step`: only in entries of earlier builds of the suite, the relay step that owes it.
 */
export type StoredEntry = { commandId: string | null; resultKey: string | null; body: string; step?: string };

/**
 * A relay step of earlier builds of the suite: the profiles one decision wrote, recorded before they were
 * written and removed once what they owed had gone out. Only read and closed now.
 */
export type RelayStep = { _id: string; profiles: string[]; at: Date };

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
export function packEntry({ commandId, resultKey, result, events, trace, undated }: PendingEntry, written?: Profile): StoredEntry {
  const stored = written
    ? events.map((event) => (event.profile && event.customerNumber === written.customerNumber && event.version === written.version ? { ...event, profile: theDocument } : event))
    : events;
  return { commandId, resultKey, body: JSON.stringify({ result, events: stored, ...(trace ? { trace } : {}), ...(undated ? { undated } : {}) }) };
}

type StoredBody = Pick<PendingEntry, 'result' | 'trace' | 'undated'> & { events: (Omit<CustomerChanged, 'profile'> & { profile: CustomerChanged['profile'] | typeof theDocument })[] };

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
  doc.pending.map((entry) => {
    if (!entry.body.includes(`"profile":"${theDocument}"`)) return entry;
    const packed = packEntry(unpack(doc, entry));
    return entry.step === undefined ? packed : { ...packed, step: entry.step };
  });

/** The key its result is stored under, once the entry went out (none for an entry of a relay step). */
const markOf = (doc: ProfileDoc, entry: StoredEntry) => (entry.step === undefined && entry.commandId !== null ? commandKey(doc.organisationId, entry.commandId) : null);

/**
 * What tells entries that went out from those still owed: the command keys whose results are
 * stored (each marks its entry), and the relay steps of older versions still open.
 */
export type Relayed = { results: ReadonlySet<string>; openSteps: ReadonlySet<string> };

/** What to read to know which of these profiles' entries are owed (see {@link Relayed}). */
export function marksToRead(docs: Iterable<ProfileDoc>): { results: string[]; steps: string[] } {
  const results = new Set<string>();
  const steps = new Set<string>();
  for (const doc of docs) {
    for (const entry of doc.pending) {
      if (entry.step !== undefined) steps.add(entry.step);
      const mark = markOf(doc, entry);
      if (mark !== null) results.add(mark);
    }
  }
  return { results: [...results], steps: [...steps] };
}

/** The profile with only the entries still owed. */
export const owedOf = (doc: ProfileDoc, relayed: Relayed): ProfileDoc => ({
  ...doc,
  pending: doc.pending.filter((entry) => {
    if (entry.step !== undefined) return relayed.openSteps.has(entry.step);
    const mark = markOf(doc, entry);
    return mark !== null && !relayed.results.has(mark);
  }),
});

/**
 * Results looked for already (with the profiles): `ids` asked for, `results` found. A result
 * stored since then by another process makes its insert collide, and is read then.
 */
export type CheckedResults = { ids: ReadonlySet<string>; results: ReadonlyMap<string, CommandResult> };

export type OutboxStore = ReturnType<typeof makeOutboxStore>;

/**
 * What the outbox reads of its marks: the stored results (`commands`) and the relay steps of older
 * versions. It remembers the last `rememberSent` results this process stored or read stored: a
 * stored result stays stored, and the profile worker, which relays most of the entries it later
 * reads again, need not read their marks again.
 */
export function makeOutboxStore(mongo: Pick<Mongo, 'db' | 'writes'>, options: { rememberSent?: number } = {}) {
  const results: Collection<{ _id: string }> = mongo.db.collection('commands');
  const relaySteps: Collection<RelayStep> = mongo.db.collection('relaySteps');
  // Which marks are stored: the steps of the partitions handled at once read together.
  const readStored = groupedByIds(results, { projection: { _id: 1 } });
  const readOpen = groupedByIds(relaySteps, { projection: { _id: 1 } });
  const write = mongo.writes.turn;
  const rememberSent = options.rememberSent ?? 200_000;
  /** Command keys whose results are known stored, oldest first. */
  const sent = new Set<string>();
  return {
    /** Notes results known stored (stored by this process, or read). */
    noteSent(keys: Iterable<string>): void {
      for (const key of keys) {
        sent.delete(key);
        sent.add(key);
      }
      for (const oldest of sent) {
        if (sent.size <= rememberSent) break;
        sent.delete(oldest);
      }
    },

    /** Whether this result is known stored without reading it (see {@link noteSent}). */
    knownSent: (key: string): boolean => sent.has(key),

    /** Which of the profiles' entries went out (see {@link Relayed}); one round trip. */
    async relayedOf(docs: Iterable<ProfileDoc>): Promise<Relayed> {
      const wanted = marksToRead(docs);
      const [stored, open] = await Promise.all([readStored(wanted.results), readOpen(wanted.steps)]);
      return { results: new Set(stored.keys()), openSteps: new Set(open.keys()) };
    },

    /** Which of these relay steps (of older versions) are still open. */
    async openSteps(steps: Iterable<string>): Promise<Set<string>> {
      return new Set((await byIds(relaySteps, steps, { projection: { _id: 1 } })).keys());
    },

    /** Relay steps of older versions relayed: one delete for all of them. */
    async closeSteps(steps: Iterable<string>): Promise<void> {
      const ids = [...new Set(steps)];
      if (ids.length > 0) await write(() => relaySteps.deleteMany({ _id: { $in: ids } }));
    },

    /** Relay steps of older versions left open by a process that stopped: older than `olderThanMs`. */
    findStaleSteps: (limit: number, olderThanMs: number) => findUpTo(relaySteps, { at: { $lt: new Date(Date.now() - olderThanMs) } }, limit),

    /** Whether a profile still has changes to relay (an entry still owed). */
    async hasUnrelayed(profile: ProfileDoc): Promise<boolean> {
      if (profile.pending.length === 0) return false;
      return owedOf(profile, await this.relayedOf([profile])).pending.length > 0;
    },
  };
}

export type DlqRecord = { key: Buffer | null; value: Buffer | null; headers: Record<string, string | Buffer> };

/** A result to store under a command key. */
export type ResultRecord = { _id: string; result: CommandResult; resultKey: string };

export type Relay = {
  /**
   * Sends what the profiles owe (their pending entries: only those still owed are given), the loose
   * results and the DLQ records in one batched produce; the loose results are stored before it
   * (first stored wins: that one is sent), the entries' results after it. Returns the entries'
   * results it sent.
   */
  publish: (input: {
    profiles?: ProfileDoc[];
    /** Results looked for already (with the profiles): not read again before they are stored. */
    stored?: CheckedResults;
    results?: LooseResult[];
    dlq?: DlqRecord[];
    order?: (commandId: string) => number;
    /** Many of the entries' results may be stored already (entries of older versions). @defaultValue false */
    manyStored?: boolean;
  }) => Promise<CommandResult[]>;
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
  /** Where results are made durable (the profile worker's `commands`). */
  results: {
    /** Before the produce, first stored wins: returns the stored result of each. */
    put: (results: ResultRecord[], checked?: CheckedResults) => Promise<Map<string, CommandResult>>;
    /** After the produce: inserted where none is stored yet (the mark that the entry went out). */
    record: (results: ResultRecord[], options?: { manyStored?: boolean }) => Promise<void>;
  };
  /** Told the results recorded, which it need not read again (the profile worker's outbox store). */
  sent?: Pick<OutboxStore, 'noteSent'>;
  /** Shortens what would not fit its topic (see workers/profile/fit.ts). */
  fit?: SendOptions['fit'];
  /** Called after a produce with what it carried (metrics). */
  onPublished?: (sent: { events: CustomerChanged[]; dlq: number }) => void;
  /** Test hook for fault injection: after a produce, before its entries' results are stored. */
  afterProduce?: () => void | Promise<void>;
}): Relay {
  const { producer, codec, schemas, topics } = deps;
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

  // Without an organisation there is no safe idempotency key: such results are sent, not stored.
  const idOf = (result: CommandResult) => (result.commandId !== '' && result.organisationId !== null ? commandKey(result.organisationId, result.commandId) : null);
  const recordsOf = (results: LooseResult[]): ResultRecord[] =>
    results.flatMap(({ key, result }) => {
      const _id = idOf(result);
      return _id ? [{ _id, result, resultKey: key ?? '' }] : [];
    });

  return {
    async publish({ profiles = [], stored: storedBefore, results: loose = [], dlq = [], order = () => -1, manyStored = false }) {
      const entries = profiles.flatMap(entriesOf);
      const events = entries.flatMap((entry) => entry.events);
      const eventTraces = entries.flatMap((entry) => entry.events.map(() => entry.trace));
      const entryResults: LooseResult[] = entries.flatMap((entry) =>
        entry.result && entry.commandId ? [{ key: entry.resultKey, result: entry.result, order: order(entry.commandId), ...(entry.trace ? { trace: entry.trace } : {}) }] : [],
      );
      // A loose result stored first (by another process deciding the same command) is the one the client gets.
      const stored = loose.length > 0 ? await deps.results.put(recordsOf(loose), storedBefore) : new Map<string, CommandResult>();
      const outgoing = [...entryResults, ...loose.map((entry) => ({ ...entry, result: stored.get(idOf(entry.result) ?? '') ?? entry.result }))].sort((a, b) => a.order - b.order);

      const eventMessages = await publisher.topicMessages(events, eventTraces);

      // A change that involves an erasure date tells the scheduler when (or that no longer) the customer is to be erased.
      const schedule = entries.flatMap((entry) => (entry.undated ? [] : entry.events.map(scheduleMessage)));

      const topicMessages = [
        ...eventMessages,
        ...(outgoing.length > 0 ? [{ topic: topics.results, messages: outgoing.map(({ key, result, trace }) => resultMessage(key, result, trace)) }] : []),
        ...(dlq.length > 0 ? [{ topic: topics.dlq, messages: dlq }] : []),
        ...(schedule.length > 0 ? [{ topic: topics.expirations, messages: schedule }] : []),
      ];
      await sendInChunks(producer, topicMessages, { limits, ...(deps.fit ? { fit: deps.fit } : {}) });
      deps.onPublished?.({ events, dlq: dlq.length });
      await deps.afterProduce?.();
      // Sent: their results mark the entries as gone out.
      const records = recordsOf(entryResults);
      await deps.results.record(records, { manyStored });
      deps.sent?.noteSent(records.map((record) => record._id));
      return entries.flatMap((entry) => (entry.result ? [entry.result] : []));
    },
  };
}

/**
 * Relays what earlier builds of the suite wrote and never relayed: their relay steps older than `minAgeMs`
 * (younger ones may still be relayed by the process that wrote them). Each step's entries are sent
 * from its profiles as they are now (at least once) and the step is closed; a profile gone since
 * owes nothing.
 */
export async function sweepLegacySteps(deps: {
  outbox: Pick<OutboxStore, 'findStaleSteps' | 'closeSteps'>;
  relay: Relay;
  findProfiles: (numbers: Iterable<string>) => Promise<Map<string, ProfileDoc>>;
  logger: Logger;
  minAgeMs: number;
}): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const stale = await deps.outbox.findStaleSteps(100, deps.minAgeMs);
    if (stale.length === 0) return;
    const numbers = [...new Set(stale.flatMap((step) => step.profiles))];
    deps.logger.info({ steps: stale.length, profiles: numbers.length }, 'relaying changes of an older version left unrelayed');
    const ids = new Set(stale.map((step) => step._id));
    const found = await deps.findProfiles(numbers);
    const profiles = [...found.values()].map((doc) => ({ ...doc, pending: doc.pending.filter((entry) => entry.step !== undefined && ids.has(entry.step)) }));
    await deps.relay.publish({ profiles, manyStored: true });
    await deps.outbox.closeSteps(ids);
  }
}
