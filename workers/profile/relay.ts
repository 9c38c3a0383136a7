// Sends what changes owe the outside world: results are made durable in MongoDB first (so a
// redelivered command gets the same answer), then events, results and DLQ records go out in one
// batched produce, then the relay steps of the entries sent are closed (see RelayStep).
import type { Admin, Message, Producer } from 'kafkajs';
import type { AvroCodec, RegisteredType } from '../../shared/avro.ts';
import { erasureDueOf, type ScheduleRecord } from '../../shared/expiry.ts';
import { ensureTopics, makeTopicLimits, sendInChunks, type UnalignedTopic } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import type { TopicConfig } from '../../shared/topicConfigs.ts';
import type { Topics } from '../../shared/topics.ts';
import type { LooseResult } from './decide.ts';
import { makeFit } from './fit.ts';
import { correlationIdHeader } from './messages.ts';
import type { CommandResult, CustomerChanged } from './model.ts';
import { commandKey, entriesOf, owedOf, profileSettled, stepSettled, stepsOf, type CheckedResults, type OpenStep, type ProfileDoc, type ProfileSeen, type ProfileStore } from './store.ts';

export type { LooseResult } from './decide.ts';

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
  store: Pick<ProfileStore, 'putResults' | 'openSteps' | 'closeSteps' | 'settleProfiles'>;
  /** Called after a produce with what it carried (metrics). */
  onPublished?: (sent: { events: CustomerChanged[]; dlq: number }) => void;
}): Relay {
  const { producer, codec, schemas, topics, store } = deps;
  const knownTopics = new Set<string>();
  // Every record sent fits its topic's max.message.bytes (see ./fit.ts).
  const limits = makeTopicLimits(deps.admin);
  const fit = makeFit({ topics, codec, result: schemas.result });

  const ensureEventTopics = async (names: string[]) => {
    const missing = [...new Set(names)].filter((name) => !knownTopics.has(name));
    if (missing.length === 0) return;
    const unaligned = await ensureTopics(deps.admin, missing.map((topic) => ({ topic, numPartitions: deps.eventPartitions, config: deps.eventTopicConfig })), deps.logger ? { logger: deps.logger } : {});
    if (unaligned.length > 0) deps.onUnaligned?.(unaligned);
    for (const name of missing) knownTopics.add(name);
  };

  const resultMessage = (key: string | null, result: CommandResult): Message => ({
    key,
    value: codec.encode(schemas.result, result),
    headers: { [correlationIdHeader]: result.correlationId },
  });

  const eventMessage = (event: CustomerChanged): Message => ({
    key: event.customerNumber,
    value: codec.encode(schemas.event, event),
    headers: event.correlationId ? { [correlationIdHeader]: event.correlationId } : {},
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
      const pendingResults: LooseResult[] = entries.flatMap((entry) => (entry.result && entry.commandId ? [{ key: entry.resultKey, result: entry.result, order: order(entry.commandId) }] : []));
      const allResults = [...pendingResults, ...results].sort((a, b) => a.order - b.order);
      // Without an organisation there is no safe idempotency key: such results are sent, not stored.
      const idOf = (result: CommandResult) => (result.commandId !== '' && result.organisationId !== null ? commandKey(result.organisationId, result.commandId) : null);
      const stored = await store.putResults(
        allResults.flatMap(({ key, result }) => {
          const _id = idOf(result);
          return _id ? [{ _id, result, resultKey: key ?? '' }] : [];
        }),
        storedBefore,
      );
      // A result stored first (by another process deciding the same command) is the one the client gets.
      const outgoing = allResults.map((entry) => ({ ...entry, result: stored.get(idOf(entry.result) ?? '') ?? entry.result }));

      const eventsByTopic = new Map<string, Message[]>();
      for (const event of events) {
        const topic = topics.customerChanged(event.organisationId);
        const list = eventsByTopic.get(topic) ?? [];
        list.push(eventMessage(event));
        eventsByTopic.set(topic, list);
      }
      await ensureEventTopics([...eventsByTopic.keys()]);

      // Every change tells the scheduler when (or that no longer) the customer is to be erased.
      const schedule = events.map(scheduleMessage);

      const topicMessages = [
        ...[...eventsByTopic].map(([topic, messages]) => ({ topic, messages })),
        ...(outgoing.length > 0 ? [{ topic: topics.results, messages: outgoing.map(({ key, result }) => resultMessage(key, result)) }] : []),
        ...(dlq.length > 0 ? [{ topic: topics.dlq, messages: dlq }] : []),
        ...(schedule.length > 0 ? [{ topic: topics.expirations, messages: schedule }] : []),
      ];
      await sendInChunks(producer, topicMessages, { limits, fit });
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
