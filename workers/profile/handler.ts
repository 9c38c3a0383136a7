// One batch of commands from one partition: decode, validate, answer replays, decide in order
// against state loaded in a few bulk reads, write in a few bulk writes, relay. Every step is safe
// to repeat: a write that loses a race (WriteConflict) makes the whole batch run again, and
// commands already applied are then recognised and answered, not applied twice.
import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import type { AvroCodec } from '../../shared/avro.ts';
import type { Batch } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import { validateCommand, type PartialMeta, type ValidationOptions } from './commands.ts';
import { changedEvent, decide, decideMerge, deletedEvent, emailKeyOf, type DecideContext } from './domain.ts';
import { dlqRecordOf } from './dlq.ts';
import { limits } from './limits.ts';
import { decodeMessage } from './messages.ts';
import type { Command, CommandOf, CommandResult, PreferenceDefinition, Profile, RejectionCode } from './model.ts';
import type { DlqRecord, LooseResult, Relay } from './relay.ts';
import { claimLeaseMs, commandKey, definitionKey, entriesOf, owedOf, packEntry, stepsOf, toProfile, WriteConflict, type ClaimDoc, type CommandDoc, type PendingEntry, type ProfileDoc, type ProfileStore } from './store.ts';

export type HandlerDeps = {
  store: ProfileStore;
  relay: Relay;
  codec: AvroCodec;
  logger: Logger;
  clock: () => Date;
  newUuid: () => string;
  /** @defaultValue 8 */
  maxAttempts?: number;
  /** Which organisations are served (ORGANISATION_IDS). @defaultValue every organisation */
  validation?: ValidationOptions;
  /** Called with each command's outcome (metrics). */
  onResult?: (result: CommandResult) => void;
  /** Test hooks for fault injection: after the MongoDB writes of a batch, after its produce. */
  hooks?: { afterWrite?: () => void | Promise<void>; afterPublish?: () => void | Promise<void> };
};

type Item =
  | { kind: 'command'; order: number; key: string | null; command: Command }
  | { kind: 'rejected'; order: number; key: string | null; meta: PartialMeta; correlationId: string; clientName: string | null; code: RejectionCode; message: string };

type Prepared = { items: Item[]; dlq: { order: number; record: DlqRecord }[]; loose: LooseResult[] };

/** The part of a prepared window from message `from` on, its order counted from there. */
const suffixOf = (prepared: Prepared, from: number): Prepared => ({
  items: prepared.items.filter((item) => item.order >= from).map((item) => ({ ...item, order: item.order - from })),
  dlq: prepared.dlq.filter((entry) => entry.order >= from).map((entry) => ({ ...entry, order: entry.order - from })),
  loose: prepared.loose.filter((entry) => entry.order >= from).map((entry) => ({ ...entry, order: entry.order - from })),
});

/** The part of a prepared step before message `length` (items and DLQ records keep their order). */
const prefixOf = (prepared: Prepared, length: number): Prepared => ({
  items: prepared.items.filter((item) => item.order < length),
  dlq: prepared.dlq.filter((entry) => entry.order < length),
  loose: prepared.loose.filter((entry) => entry.order < length),
});

/**
 * Commands decided, written and relayed together. A backlog arrives in batches of many thousands:
 * steps keep each bulk read and write, and each produce, of a bounded size.
 */
const maxStep = 1_000;

/**
 * Commands on one profile in one step. Each accepted change keeps a full snapshot in its profile's
 * `pending` until relayed, and a profile can hold the entries of two steps (one not relayed yet,
 * after a crash): with the caps on a profile's lists a snapshot is at most about 270 KB as JSON
 * (every character of every field escaped to six bytes), so 2 × 25 of them stay under 14 MB,
 * below MongoDB's 16 MB, whatever the backlog on one customer. A step ends before the command
 * that would pass the bound; the next step takes the rest.
 */
export const maxCommandsPerProfile = 25;

/** How many of the step's messages to handle so that no profile gets more than {@link maxCommandsPerProfile}. */
function boundedLength(items: Item[], length: number): number {
  const counts = new Map<string, number>();
  for (const item of [...items].sort((a, b) => a.order - b.order)) {
    if (item.kind !== 'command') continue;
    const { command } = item;
    const targets = [command.customerNumber, command.type === 'MergeTemporaryProfile' ? command.payload.permanentCustomerNumber : null];
    for (const target of targets) {
      if (target === null) continue;
      const count = (counts.get(target) ?? 0) + 1;
      if (count > maxCommandsPerProfile) return item.order;
      counts.set(target, count);
    }
  }
  return length;
}

const keyOf = (message: KafkaMessage) => message.key?.toString('utf8') ?? null;

/** One document per profile, the last written: its pending list holds every earlier one's. */
const latestOf = (docs: ProfileDoc[]) => [...new Map(docs.map((doc) => [doc._id, doc])).values()];

export function makeCommandHandler(deps: HandlerDeps) {
  const { store, relay, codec, logger, clock } = deps;
  const { claimKey } = store;
  const maxAttempts = deps.maxAttempts ?? 8;

  const resultOf = (
    base: { commandId: string | null; correlationId: string; clientName: string | null; organisationId: number | null; commandType: string | null },
    outcome: { customerNumber: string | null; status: 'ACCEPTED' | 'REJECTED'; code?: RejectionCode | null; message?: string | null; version?: number | null },
    now: Date,
  ): CommandResult => ({
    commandId: base.commandId ?? '',
    correlationId: base.correlationId,
    clientName: base.clientName,
    organisationId: base.organisationId,
    customerNumber: outcome.customerNumber,
    commandType: base.commandType,
    status: outcome.status,
    code: outcome.code ?? null,
    message: outcome.message ?? null,
    version: outcome.version ?? null,
    processedAt: now.toISOString(),
  });

  const commandBase = (command: Command) => ({
    commandId: command.commandId,
    correlationId: command.correlationId,
    clientName: command.clientName,
    organisationId: command.organisationId,
    commandType: command.type,
  });

  /** Decoding and validation: no state needed. */
  async function prepare(batch: Batch, now: Date): Promise<Prepared> {
    const prepared: Prepared = { items: [], dlq: [], loose: [] };
    for (const [order, message] of batch.messages.entries()) {
      const decoded = await decodeMessage(message, batch, codec);
      const key = message.key && message.key.length > limits.keyBytes ? null : keyOf(message);
      if (decoded.kind === 'undecodable') {
        prepared.dlq.push({ order, record: dlqRecordOf(message, batch, { code: decoded.code, message: decoded.message }) });
        logger.warn({ code: decoded.code, topic: batch.topic, partition: batch.partition, offset: message.offset, correlationId: decoded.headers.correlationId }, 'undecodable command sent to the DLQ');
        if (decoded.commandId !== null) {
          const meta: PartialMeta = { commandId: decoded.commandId, organisationId: null, customerNumber: null, commandType: null };
          prepared.items.push({ kind: 'rejected', order, key, meta, correlationId: decoded.headers.correlationId, clientName: decoded.headers.clientName, code: decoded.resultCode, message: `undecodable: ${decoded.message}` });
        }
        continue;
      }
      // "In the future" is judged at the time the command was sent (its Kafka timestamp), not when
      // it is processed: a redelivery after the date must be recognised as the command it was, not
      // rejected where its first delivery was accepted.
      const sentAt = Number(message.timestamp);
      const validation = validateCommand(decoded.raw, decoded.headers, Number.isFinite(sentAt) && sentAt > 0 ? new Date(Math.min(sentAt, now.getTime())) : now, deps.validation);
      if (validation.ok && message.key && message.key.length > limits.keyBytes) {
        // The key is kept with the command's outcome and keys its result: bounded, or the outcome
        // could outgrow what MongoDB stores. Answered without it.
        const { command } = validation;
        const meta: PartialMeta = { commandId: command.commandId, organisationId: command.organisationId, customerNumber: command.customerNumber, commandType: command.type };
        prepared.items.push({ kind: 'rejected', order, key: null, meta, correlationId: command.correlationId, clientName: command.clientName, code: 'LIMIT_EXCEEDED', message: `Kafka key: at most ${limits.keyBytes} bytes` });
      } else if (validation.ok) {
        prepared.items.push({ kind: 'command', order, key, command: validation.command });
      } else if (validation.meta.commandId !== null) {
        const { rejection, meta } = validation;
        prepared.items.push({ kind: 'rejected', order, key, meta, correlationId: decoded.headers.correlationId, clientName: decoded.headers.clientName, code: rejection.code, message: rejection.message });
      } else {
        // Without a commandId nobody can be answered: the DLQ tells the operators.
        prepared.dlq.push({ order, record: dlqRecordOf(message, batch, { code: validation.rejection.code, message: validation.rejection.message }) });
      }
    }
    return prepared;
  }

  /** Decides and writes a run of commands without merges, then relays. */
  /** Drops from loaded profiles the pending entries already relayed (their step is closed). */
  async function dropRelayed(docs: Map<string, ProfileDoc>): Promise<void> {
    const steps = stepsOf(docs.values());
    if (steps.size === 0) return;
    const open = await store.openSteps(steps);
    for (const [number, doc] of docs) docs.set(number, owedOf(doc, open));
  }

  async function applySegment(commands: Extract<Item, { kind: 'command' }>[], stored: Map<string, CommandDoc>, now: Date, loose: LooseResult[], orderOf: Map<string, number>) {
    const nowIso = now.toISOString();
    const step = randomUUID();
    const isCreation = (command: Command) => command.type === 'CreateProfile' || command.type === 'CreateTemporaryProfile';

    // Numbers for creations: the one reserved by an earlier attempt, or a new one.
    const reserved = new Map<string, string>();
    const needNumbers = commands.filter(({ command }) => isCreation(command) && !stored.get(commandKey(command.organisationId, command.commandId))?.customerNumber);
    const fresh = await store.allocateNumbers(needNumbers.length);
    const reservations = needNumbers.map(({ command, key }, index) => ({ _id: commandKey(command.organisationId, command.commandId), customerNumber: fresh[index]!, resultKey: key ?? '' }));
    for (const { command } of commands) {
      const number = stored.get(commandKey(command.organisationId, command.commandId))?.customerNumber;
      if (isCreation(command) && number) reserved.set(commandKey(command.organisationId, command.commandId), number);
    }
    for (const [index, { command }] of needNumbers.entries()) reserved.set(commandKey(command.organisationId, command.commandId), fresh[index]!);
    const targetOf = (command: Command) => (isCreation(command) ? reserved.get(commandKey(command.organisationId, command.commandId))! : command.customerNumber!);

    // State, loaded in bulk.
    const targets = commands.map(({ command }) => targetOf(command));
    const docs = await store.findProfiles(targets);
    // Entries of closed relay steps went out: drop them. Read before the late results below: a step
    // is closed only after its results were stored, so a command whose entry is dropped here has
    // its result found there.
    await dropRelayed(docs);
    // A result stored after `stored` was read (another process relayed a change of this batch
    // between the two reads) must be replayed, not decided again.
    const lateResults = await store.findCommands(commands.map(({ command }) => commandKey(command.organisationId, command.commandId)));
    const originalVersion = new Map([...docs].map(([number, doc]) => [number, doc.version]));

    const definitionIds = commands.flatMap(({ command }) => (command.type === 'SetPreference' ? [definitionKey(command.organisationId, command.payload.key)] : []));
    const definitions = await store.findDefinitions(definitionIds);

    const emailIds = new Set<string>();
    const accountIds = new Set<string>();
    for (const { command } of commands) {
      const org = command.organisationId;
      const email = 'fields' in command.payload ? command.payload.fields.email : command.type === 'ConvertToPermanent' ? command.payload.email : undefined;
      if (email) emailIds.add(claimKey(org, email.toLowerCase()));
      if (command.type === 'AddCustomerAccount') accountIds.add(claimKey(org, command.payload.customerAccountId));
      // Every value the target holds or held may be released or taken back within the batch:
      // its claim must be known, or giving it back and taking it again would collide.
      const doc = docs.get(targetOf(command));
      if (doc && doc.organisationId === org) {
        for (const value of [doc.email, doc.emailOld]) if (value) emailIds.add(claimKey(org, value.toLowerCase()));
        for (const account of doc.customerAccounts) accountIds.add(claimKey(org, account));
      }
    }
    const [emailClaims, accountClaims] = await Promise.all([store.emails.find(emailIds), store.accounts.find(accountIds)]);
    // A claim counts only while its owner still holds the value (a crash can leave a stale one).
    const owners = new Set([...emailClaims.values(), ...accountClaims.values()].map((claim) => claim.customerNumber).filter((number) => !docs.has(number)));
    const ownerDocs = await store.findProfiles(owners);
    const profileOf = (number: string) => docs.get(number) ?? ownerDocs.get(number);
    const emailsOf = (profile: Profile) => {
      const key = emailKeyOf(profile);
      return key ? [claimKey(profile.organisationId, key)] : [];
    };
    const accountsOf = (profile: Profile) => profile.customerAccounts.map((account) => claimKey(profile.organisationId, account));
    const holds = (kind: 'email' | 'account', id: string, number: string) => {
      const owner = profileOf(number);
      if (!owner) return false;
      return (kind === 'email' ? emailsOf(owner) : accountsOf(owner)).includes(id);
    };
    const makeIndex = (kind: 'email' | 'account', claims: Map<string, ClaimDoc>) => {
      const dbOwner = new Map([...claims].map(([id, claim]) => [id, claim.customerNumber]));
      const leaseStart = now.getTime() - claimLeaseMs;
      const owned = (id: string, claim: ClaimDoc) => holds(kind, id, claim.customerNumber) || (claim.at !== undefined && claim.at.getTime() > leaseStart);
      const current = new Map([...claims].map(([id, claim]) => [id, owned(id, claim) ? claim.customerNumber : null]));
      return { dbOwner, current, touched: new Set<string>() };
    };
    const emailIndex = makeIndex('email', emailClaims);
    const accountIndex = makeIndex('account', accountClaims);

    const changed = new Map<string, ProfileDoc>();
    const toRelay = new Map<string, ProfileDoc>();
    const newDefinitions: PreferenceDefinition[] = [];
    // Outcomes without an effect (rejections, no change) on a profile, waiting for its next write in
    // this step: they go into that write, so that a crash after it cannot decide them again against
    // the state the later commands made (per-key order). Those still waiting at the end order before
    // nothing durable: they are sent as loose results.
    const held = new Map<string, (PendingEntry & { order: number })[]>();
    const settle = (command: Command, key: string | null, order: number, result: CommandResult) => {
      const target = targetOf(command);
      const doc = changed.get(target) ?? docs.get(target);
      if (!doc || doc.organisationId !== command.organisationId) {
        loose.push({ key, order, result });
        return;
      }
      held.set(target, [...(held.get(target) ?? []), { commandId: command.commandId, resultKey: key, result, events: [], order }]);
    };

    const track = (index: typeof emailIndex, before: string[], after: string[], number: string) => {
      for (const id of before.filter((value) => !after.includes(value))) {
        index.current.set(id, null);
        index.touched.add(id);
      }
      for (const id of after.filter((value) => !before.includes(value))) {
        index.current.set(id, number);
        index.touched.add(id);
      }
    };

    for (const { command, key } of commands) {
      const target = targetOf(command);
      const doc = changed.get(target) ?? docs.get(target);
      const late = lateResults.get(commandKey(command.organisationId, command.commandId))?.result;
      if (late) {
        loose.push({ key, order: orderOf.get(command.commandId) ?? -1, result: late });
        continue;
      }
      if (doc && doc.organisationId === command.organisationId && doc.pending.some((entry) => entry.commandId === command.commandId)) {
        toRelay.set(target, doc); // applied before a crash; relay what it owes
        continue;
      }
      if (doc && isCreation(command)) {
        // Created and relayed by an earlier attempt whose result was replayed above; nothing left.
        continue;
      }
      const org = command.organisationId;
      // A creation's earlier attempt may have taken claims for the number it reserved before it
      // stopped (a crash, a write conflict): those are its own, not taken.
      const ownerOf = (index: typeof emailIndex, id: string) => {
        const owner = index.current.get(id) ?? null;
        return !doc && owner === target ? null : owner;
      };
      const context: DecideContext = {
        now: nowIso,
        emailOwner: (email) => ownerOf(emailIndex, claimKey(org, email)),
        accountOwner: (account) => ownerOf(accountIndex, claimKey(org, account)),
        preference: (preferenceKey) => definitions.get(definitionKey(org, preferenceKey)) ?? null,
        allocate: () => ({ customerNumber: target, uuid: deps.newUuid() }),
      };
      // A temporary profile being merged is gone for every other command.
      const before = doc && !doc.mergingInto ? toProfile(doc) : null;
      const decision = decide(command as Exclude<Command, CommandOf<'MergeTemporaryProfile'>>, before, context);
      const order = orderOf.get(command.commandId) ?? -1;
      switch (decision.kind) {
        case 'rejected':
          settle(command, key, order, resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'REJECTED', code: decision.code, message: decision.message, version: decision.version }, now));
          break;
        case 'defined':
          definitions.set(definitionKey(org, decision.definition.key), decision.definition);
          newDefinitions.push(decision.definition);
          loose.push({ key, order, result: resultOf(commandBase(command), { customerNumber: null, status: 'ACCEPTED' }, now) });
          break;
        case 'changed': {
          const after = decision.profile;
          if (decision.eventType === null) {
            settle(command, key, order, resultOf(commandBase(command), { customerNumber: after.customerNumber, status: 'ACCEPTED', message: decision.message, version: after.version }, now));
            break;
          }
          const actor = 'actor' in command.payload ? command.payload.actor : null;
          const eventType = decision.eventType === 'DELETED' ? 'UPDATED' : decision.eventType;
          const entry: PendingEntry = {
            commandId: command.commandId,
            resultKey: key,
            result: resultOf(commandBase(command), { customerNumber: after.customerNumber, status: 'ACCEPTED', message: decision.message, version: after.version }, now),
            events: [changedEvent(after, eventType, { commandId: command.commandId, correlationId: command.correlationId, actor }, nowIso)],
          };
          const waiting = (held.get(target) ?? []).map(({ order: _order, ...outcome }) => packEntry(outcome, step));
          held.delete(target);
          const next: ProfileDoc = { ...after, _id: after.customerNumber, pending: [...(doc?.pending ?? []), ...waiting, packEntry(entry, step)] };
          track(emailIndex, before ? emailsOf(before) : [], emailsOf(after), after.customerNumber);
          track(accountIndex, before ? accountsOf(before) : [], accountsOf(after), after.customerNumber);
          changed.set(target, next);
          toRelay.set(target, next);
          break;
        }
        default: {
          const unreachable: never = decision;
          throw new Error(`unhandled decision ${JSON.stringify(unreachable)}`);
        }
      }
    }

    for (const outcomes of held.values()) for (const { resultKey, result, order } of outcomes) loose.push({ key: resultKey, order, result: result! });

    // Claims: take what the batch now holds, write the profiles, then give back what it let go.
    const claimChanges = (index: typeof emailIndex) => {
      const take: { _id: string; customerNumber: string; staleOwner: string | null }[] = [];
      const release: { _id: string; customerNumber: string }[] = [];
      for (const id of index.touched) {
        const wanted = index.current.get(id) ?? null;
        const inDb = index.dbOwner.get(id) ?? null;
        if (wanted === inDb) continue;
        if (wanted !== null) take.push({ _id: id, customerNumber: wanted, staleOwner: inDb });
        else if (inDb !== null) release.push({ _id: id, customerNumber: inDb });
      }
      return { take, release };
    };
    const emailChanges = claimChanges(emailIndex);
    const accountChanges = claimChanges(accountIndex);

    await store.reserveCreations(reservations);
    await Promise.all([store.emails.take(emailChanges.take), store.accounts.take(accountChanges.take)]);
    if (changed.size > 0) await store.openStep(step, [...changed].map(([customerNumber, doc]) => ({ customerNumber, organisationId: doc.organisationId, expectedVersion: originalVersion.get(customerNumber) ?? null })));
    await store.writeProfiles([...changed.values()].map((doc) => ({ doc, expectedVersion: originalVersion.get(doc._id) ?? null })));
    await Promise.all([store.emails.release(emailChanges.release), store.accounts.release(accountChanges.release), store.putDefinitions(newDefinitions)]);
    return [...toRelay.values()];
  }

  /** A merge touches two profiles: a small resumable saga of single-document writes. */
  async function applyMerge(item: Extract<Item, { kind: 'command' }>, now: Date, loose: LooseResult[], orderOf: Map<string, number>): Promise<ProfileDoc[]> {
    const command = item.command as CommandOf<'MergeTemporaryProfile'>;
    const nowIso = now.toISOString();
    const permanentNumber = command.payload.permanentCustomerNumber;
    const docs = await store.findProfiles([command.customerNumber, permanentNumber]);
    await dropRelayed(docs);
    const temporary = docs.get(command.customerNumber);
    let permanent = docs.get(permanentNumber);
    const reject = (code: RejectionCode, message: string, version: number | null) =>
      loose.push({ key: item.key, order: orderOf.get(command.commandId) ?? -1, result: resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'REJECTED', code, message, version }, now) });

    const written = permanent?.organisationId === command.organisationId && permanent.pending.some((entry) => entry.commandId === command.commandId);
    if (!written) {
      // Applied, relayed and cleared by another process since this batch's first read: replay.
      const late = (await store.findCommands([commandKey(command.organisationId, command.commandId)])).values().next().value?.result;
      if (late) {
        loose.push({ key: item.key, order: orderOf.get(command.commandId) ?? -1, result: late });
        return [];
      }
      if (temporary?.mergingInto && temporary.mergingInto !== permanentNumber) {
        reject('CUSTOMER_NOT_FOUND', `customer ${command.customerNumber} not found`, null); // being merged elsewhere
        return [];
      }
      const decision = decideMerge(command, temporary ? toProfile(temporary) : null, permanent ? toProfile(permanent) : null, nowIso);
      if (decision.kind === 'rejected') {
        // Marked by an earlier attempt of this merge that stopped before the permanent profile was
        // written, and now refused (the permanent profile was deactivated or erased meanwhile): the
        // temporary profile is nobody's to remove, and lives on.
        if (temporary?.mergingInto === permanentNumber) await store.unmarkMerging(temporary._id, temporary.version, permanentNumber);
        reject(decision.code, decision.message, decision.version);
        return [];
      }
      // 1. Mark the temporary profile: from now on no other command, nor its erasure, touches it.
      if (!temporary!.mergingInto) await store.markMerging(temporary!._id, temporary!.version, permanentNumber);
      // 2. Its own earlier events go out before its DELETED event.
      if (temporary!.pending.length > 0) await relay.publish({ profiles: [temporary!] });
      // 3. The permanent profile, with both events and the result, in one write.
      const cause = { commandId: command.commandId, correlationId: command.correlationId, actor: command.payload.actor };
      const deleted = deletedEvent({ organisationId: command.organisationId, customerNumber: command.customerNumber, lastVersion: temporary!.version }, 'MERGED', { ...cause, mergedInto: permanentNumber }, nowIso);
      const entry: PendingEntry = {
        commandId: command.commandId,
        resultKey: item.key,
        result: resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'ACCEPTED', message: `merged into customer ${permanentNumber}`, version: deleted.version }, now),
        events: [changedEvent(decision.permanent, 'MERGED', cause, nowIso), deleted],
      };
      const step = randomUUID();
      const next: ProfileDoc = { ...decision.permanent, _id: permanentNumber, pending: [...permanent!.pending, packEntry(entry, step)] };
      await store.openStep(step, [{ customerNumber: permanentNumber, organisationId: command.organisationId, expectedVersion: permanent!.version }]);
      await store.writeProfiles([{ doc: next, expectedVersion: permanent!.version }]);
      permanent = next;
    }
    // 4. Resumable (also from a replay or the sweep): claims move over, the temporary profile goes.
    if (temporary) await store.finishMerge(temporary, permanentNumber);
    return [permanent!];
  }


  async function attempt(prepared: Prepared, now: Date): Promise<void> {
    const loose: LooseResult[] = [...prepared.loose];
    const orderOf = new Map(prepared.items.map((item) => [item.kind === 'command' ? item.command.commandId : item.meta.commandId!, item.order]));
    const keyFor = (item: Item) => (item.kind === 'command' ? commandKey(item.command.organisationId, item.command.commandId) : commandKey(item.meta.organisationId, item.meta.commandId!));
    const stored = await store.findCommands(prepared.items.map(keyFor));

    const pending: Item[] = [];
    // Replayed changes whose events may still be waiting in their profile (a crash after the result
    // was stored and before the produce): profile → commandIds.
    const replayedChanges = new Map<string, Set<string>>();
    for (const item of prepared.items) {
      const replay = item.kind === 'command' || item.meta.organisationId !== null ? stored.get(keyFor(item))?.result : undefined;
      if (replay) {
        loose.push({ key: item.key, order: item.order, result: replay });
        if (item.kind === 'command' && replay.status === 'ACCEPTED' && replay.version !== null) {
          const holder = item.command.type === 'MergeTemporaryProfile' ? item.command.payload.permanentCustomerNumber : replay.customerNumber;
          if (holder) replayedChanges.set(holder, (replayedChanges.get(holder) ?? new Set()).add(item.command.commandId));
        }
        // A merge answered before its temporary profile was removed (a crash in between): finish it.
        if (item.kind === 'command' && item.command.type === 'MergeTemporaryProfile' && replay.status === 'ACCEPTED') await store.finishMergeOf(item.command.customerNumber);
        // Refused by another process (a rebalance) while this one's attempt had marked the
        // temporary profile: the mark is nobody's any more.
        if (item.kind === 'command' && item.command.type === 'MergeTemporaryProfile' && replay.status === 'REJECTED') await store.clearRefusedMerge(item.command.customerNumber, item.command.payload.permanentCustomerNumber);
        continue;
      }
      if (item.kind === 'rejected') {
        const base = { commandId: item.meta.commandId, correlationId: item.correlationId, clientName: item.clientName, organisationId: item.meta.organisationId, commandType: item.meta.commandType };
        loose.push({ key: item.key, order: item.order, result: resultOf(base, { customerNumber: item.meta.customerNumber, status: 'REJECTED', code: item.code, message: item.message }, now) });
        continue;
      }
      pending.push(item);
    }

    // Runs of ordinary commands, each merge on its own in between.
    const relayed: ProfileDoc[] = [];
    if (replayedChanges.size > 0) {
      for (const doc of (await store.findProfiles(replayedChanges.keys())).values()) {
        if (doc.pending.some((entry) => entry.commandId !== null && replayedChanges.get(doc._id)!.has(entry.commandId))) relayed.push(doc);
      }
    }
    let run: Extract<Item, { kind: 'command' }>[] = [];
    const flush = async () => {
      if (run.length > 0) relayed.push(...(await applySegment(run, stored, now, loose, orderOf)));
      run = [];
    };
    for (const item of pending) {
      if (item.kind !== 'command') continue;
      if (item.command.type === 'MergeTemporaryProfile') {
        await flush();
        // Relay what came before, so the merge sees (and orders after) it — the answers without an
        // effect too: decided again after the merge, they could come out otherwise (per-key order).
        const before = loose.splice(0);
        await relay.publish({ profiles: latestOf(relayed.splice(0)), results: before, order: (commandId) => orderOf.get(commandId) ?? -1 });
        for (const { result } of before) deps.onResult?.(result);
        relayed.push(...(await applyMerge(item, now, loose, orderOf)));
        // A refused merge has no write to ride in: it is fixed (stored and sent) before the commands
        // after it, which could change its answer if it were decided again after a crash.
        const refused = loose.splice(0);
        if (refused.length > 0) {
          await relay.publish({ results: refused, order: (commandId) => orderOf.get(commandId) ?? -1 });
          for (const { result } of refused) deps.onResult?.(result);
        }
      } else {
        run.push(item);
      }
    }
    await flush();
    await deps.hooks?.afterWrite?.();
    const profiles = latestOf(relayed);
    await relay.publish({ profiles, results: loose, dlq: prepared.dlq.map((entry) => entry.record), order: (commandId) => orderOf.get(commandId) ?? -1 });
    await deps.hooks?.afterPublish?.();
    for (const { result } of loose) deps.onResult?.(result);
    for (const doc of profiles) for (const entry of entriesOf(doc)) if (entry.result) deps.onResult?.(entry.result);
  }

  return {
    /** A batch is handled in steps of at most {@link maxStep} commands, each written and relayed before the next. */
    async handleBatch(batch: Batch, progress: (handledOffset?: string) => Promise<void> = async () => undefined, stopping: () => boolean = () => false): Promise<void | 'stopped'> {
      for (let start = 0; start < batch.messages.length; ) {
        // Decoded and validated once per window; handled in one step, or several when one profile
        // has more commands in it than a step takes.
        const window = batch.messages.slice(start, start + maxStep);
        const prepared = await prepare({ ...batch, messages: window }, clock());
        for (let done = 0; done < window.length; ) {
          // Stopping (SIGTERM, a rebalance): after the step in flight, not after a backlog's batch.
          if (start + done > 0 && stopping()) return 'stopped';
          const rest = done === 0 ? prepared : suffixOf(prepared, done);
          const length = boundedLength(rest.items, window.length - done);
          await handleStep(batch, length < window.length - done ? prefixOf(rest, length) : rest, clock());
          done += length;
          // Committed step by step, alive to the group coordinator while a backlog's batch takes its time.
          await progress(window[done - 1]!.offset);
        }
        start += window.length;
      }
    },
  };

  async function handleStep(batch: Batch, prepared: Prepared, now: Date): Promise<void> {
    for (let attemptNumber = 1; ; attemptNumber++) {
      try {
        await attempt(prepared, now);
        return;
      } catch (error) {
        if (!(error instanceof WriteConflict) || attemptNumber >= maxAttempts) throw error;
        logger.info({ topic: batch.topic, partition: batch.partition, attempt: attemptNumber, reason: error.message }, 'write conflict, deciding the batch again');
      }
    }
  }
}
