// What one step of the profile worker does, decided in one pure function: the commands of a run
// (no merges: see decideMergeStep) in their order, against a snapshot of everything they need, give
// the step's results, profile writes with their events, claims to take and give back, preference
// definitions and number reservations. No I/O: the clock and every new id come in; load.ts reads
// the snapshot, apply.ts writes the decision, the outbox sends what it owes.
import type { ClaimKey } from '../../shared/customers/claims.ts';
import type { PartialMeta } from './commands.ts';
import { changedEvent, deletedEvent } from '../../shared/customers/events.ts';
import { decide, decideMerge, emailKeyOf, type DecideContext } from './domain.ts';
import type { Command, CommandOf, CommandResult, PreferenceDefinition, Profile, RejectionCode } from './model.ts';
import { claimLeaseMs, definitionKey, type CommandDoc } from './store.ts';
import { carriedEntries, commandKey, packEntry, type LooseResult, type PendingEntry } from '../../shared/outbox.ts';
import { continueTrace, type TraceContext, type TraceIds } from '../../shared/tracing.ts';
import { erasureDueOf } from '../../shared/expiry.ts';
import { toProfile, type ProfileDoc } from '../../shared/customers/document.ts';
import type { ClaimDoc } from '../../shared/customers/claims.ts';

/** A command that passed validation, at its place (`order`) in the step. */
export type CommandItem = { kind: 'command'; order: number; key: string | null; command: Command; trace?: TraceContext };
/** A message refused by validation that can still be answered (it has a commandId). */
export type RejectedItem = {
  kind: 'rejected';
  order: number;
  key: string | null;
  meta: PartialMeta;
  correlationId: string;
  clientName: string | null;
  code: RejectionCode;
  message: string;
  /** The message's trace context (absent: none, or an invalid one). */
  trace?: TraceContext;
};
export type Item = CommandItem | RejectedItem;

export type { LooseResult };

/** State a run is decided against, read by load.ts. */
export type Snapshot = {
  /**
   * What is stored of each command, by command key: the number reserved for a creation, and its
   * result once durable (for a change, once its entry went out).
   */
  commands: ReadonlyMap<string, CommandDoc>;
  /**
   * The profiles the commands target (with only the pending entries still owed) and those holding
   * values the commands name (whose claims are checked against what they hold).
   */
  profiles: ReadonlyMap<string, ProfileDoc>;
  emailClaims: ReadonlyMap<string, ClaimDoc>;
  accountClaims: ReadonlyMap<string, ClaimDoc>;
  /** Preference definitions by {@link definitionKey}. */
  definitions: ReadonlyMap<string, PreferenceDefinition>;
};

/** What decisions take from outside: the time, and every id they may need. */
export type DecideOptions = {
  now: Date;
  /** Numbers for the run's creations without a reserved one (see {@link creationsWithoutNumber}), in their order. */
  numbers: readonly string[];
  uuid: () => string;
  claimKey: ClaimKey;
  /** Ids of the trace contexts of results and events: each continues its command's trace (W3C), or starts one. */
  traceIds: TraceIds;
};

export type ClaimChanges = {
  take: { _id: string; customerNumber: string; staleOwner: string | null }[];
  release: ClaimDoc[];
};

export type StepDecision = {
  /** Results to store and send besides those in the entries of `relay`. */
  results: LooseResult[];
  /** Profiles whose owed entries go out after the writes (as written by this step, or found owing). */
  relay: ProfileDoc[];
  /** Inserts (expectedVersion null) and version-guarded replaces. */
  writes: { doc: ProfileDoc; expectedVersion: number | null }[];
  /** Numbers chosen for creations, recorded before the profiles exist so that a redelivery reuses them. */
  reservations: { _id: string; customerNumber: string; resultKey: string }[];
  claims: { emails: ClaimChanges; accounts: ClaimChanges };
  definitions: PreferenceDefinition[];
};

export const isCreation = (command: Command) => command.type === 'CreateProfile' || command.type === 'CreateTemporaryProfile';

/** The command key of an item, when it can be looked up (a rejection without organisation cannot). */
export function itemKey(item: Item): string | null {
  if (item.kind === 'command') return commandKey(item.command.organisationId, item.command.commandId);
  return item.meta.organisationId !== null && item.meta.commandId !== null ? commandKey(item.meta.organisationId, item.meta.commandId) : null;
}

/** Creations of a run that have no number reserved yet: each needs a new one, in this order. */
export function creationsWithoutNumber(items: readonly Item[], commands: ReadonlyMap<string, CommandDoc>): CommandItem[] {
  const seen = new Set<string>();
  return items.filter((item): item is CommandItem => {
    if (item.kind !== 'command' || !isCreation(item.command)) return false;
    const key = itemKey(item)!;
    const stored = commands.get(key);
    // A copy of the same command in the run (a client's retry) is the same creation; one answered already needs none.
    if (seen.has(key) || stored?.customerNumber || stored?.result) return false;
    seen.add(key);
    return true;
  });
}

/** The profile a command works on: its customer number, or the number reserved for a creation. */
export function targetOf(command: Command, commands: ReadonlyMap<string, CommandDoc>): string | null {
  return isCreation(command) ? (commands.get(commandKey(command.organisationId, command.commandId))?.customerNumber ?? null) : command.customerNumber;
}

type Outcome = { customerNumber: string | null; status: 'ACCEPTED' | 'REJECTED'; code?: RejectionCode | null; message?: string | null; version?: number | null };
type ResultBase = { commandId: string | null; correlationId: string; clientName: string | null; organisationId: number | null; commandType: string | null };

export const resultOf = (base: ResultBase, outcome: Outcome, now: Date): CommandResult => ({
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

const commandBase = (command: Command): ResultBase => ({
  commandId: command.commandId,
  correlationId: command.correlationId,
  clientName: command.clientName,
  organisationId: command.organisationId,
  commandType: command.type,
});

/** The answer to a message refused by validation. */
export const rejectionOf = (item: RejectedItem, now: Date): CommandResult =>
  resultOf(
    { commandId: item.meta.commandId, correlationId: item.correlationId, clientName: item.clientName, organisationId: item.meta.organisationId, commandType: item.meta.commandType },
    { customerNumber: item.meta.customerNumber, status: 'REJECTED', code: item.code, message: item.message },
    now,
  );

/** Who holds a unique value: as stored, and as the run leaves it. */
type ClaimIndex = { dbOwner: Map<string, string>; current: Map<string, string | null>; touched: Set<string> };

/**
 * Decides a run of commands (no merges) in order. Every outcome is decided once: a command with a
 * stored result, or whose change a profile already holds, is answered as it was; rejections and
 * no-ops on a profile are held for that profile's next write in the run, so that a crash after it
 * cannot decide them again against a later state (per-key order); those left at the end are loose.
 */
export function decideBatch(items: readonly Item[], snapshot: Snapshot, options: DecideOptions): StepDecision {
  const { now, claimKey } = options;
  const nowIso = now.toISOString();
  const stored = snapshot.commands;
  const results: LooseResult[] = [];
  const toRelay = new Map<string, ProfileDoc>();
  // What a command causes is sent in a child of its trace (one span: its handling here).
  const traceOf = (item: Item) => continueTrace(item.trace, options.traceIds);

  // Numbers for creations: the one reserved by an earlier attempt, or a new one.
  const fresh = creationsWithoutNumber(items, stored);
  if (fresh.length > options.numbers.length) throw new Error(`decideBatch: ${fresh.length} creations need a number, ${options.numbers.length} given`);
  const freshNumber = new Map(fresh.map((item, index) => [itemKey(item)!, options.numbers[index]!]));
  const reservations = fresh.map(({ command, key }) => ({ _id: commandKey(command.organisationId, command.commandId), customerNumber: freshNumber.get(commandKey(command.organisationId, command.commandId))!, resultKey: key ?? '' }));
  const target = (command: Command) => targetOf(command, stored) ?? freshNumber.get(commandKey(command.organisationId, command.commandId))!;

  // Replays, and answers to what validation refused.
  const commands: CommandItem[] = [];
  for (const item of items) {
    const key = itemKey(item);
    const replay = key === null ? undefined : stored.get(key)?.result;
    if (replay) {
      // Its change, if any, went out before its result was stored.
      results.push({ key: item.key, order: item.order, result: replay, trace: traceOf(item) });
    } else if (item.kind === 'rejected') {
      results.push({ key: item.key, order: item.order, result: rejectionOf(item, now), trace: traceOf(item) });
    } else {
      commands.push(item);
    }
  }

  const docs = snapshot.profiles;
  const originalVersion = (number: string) => docs.get(number)?.version ?? null;
  const emailsOf = (profile: Profile) => {
    const key = emailKeyOf(profile);
    return key ? [claimKey(profile.organisationId, key)] : [];
  };
  const accountsOf = (profile: Profile) => profile.customerAccounts.map((account) => claimKey(profile.organisationId, account));
  const holds = (kind: 'email' | 'account', id: string, number: string) => {
    const owner = docs.get(number);
    if (!owner) return false;
    return (kind === 'email' ? emailsOf(owner) : accountsOf(owner)).includes(id);
  };
  // A claim counts only while its owner still holds the value (a crash can leave a stale one), or
  // while it is young: its owner's write may still be on its way in another process.
  const makeIndex = (kind: 'email' | 'account', claims: ReadonlyMap<string, ClaimDoc>): ClaimIndex => {
    const leaseStart = now.getTime() - claimLeaseMs;
    const owned = (id: string, claim: ClaimDoc) => holds(kind, id, claim.customerNumber) || (claim.at !== undefined && claim.at.getTime() > leaseStart);
    return {
      dbOwner: new Map([...claims].map(([id, claim]) => [id, claim.customerNumber])),
      current: new Map([...claims].map(([id, claim]) => [id, owned(id, claim) ? claim.customerNumber : null])),
      touched: new Set(),
    };
  };
  const emailIndex = makeIndex('email', snapshot.emailClaims);
  const accountIndex = makeIndex('account', snapshot.accountClaims);
  const track = (index: ClaimIndex, before: string[], after: string[], number: string) => {
    for (const id of before.filter((value) => !after.includes(value))) {
      index.current.set(id, null);
      index.touched.add(id);
    }
    for (const id of after.filter((value) => !before.includes(value))) {
      index.current.set(id, number);
      index.touched.add(id);
    }
  };

  // The outcome of each command decided in this run: a copy of it later in the run (a client's
  // retry) gets the same answer and has no second effect.
  const decided = new Map<string, CommandResult>();
  const changed = new Map<string, ProfileDoc>();
  const definitions = new Map(snapshot.definitions);
  const newDefinitions: PreferenceDefinition[] = [];
  // Outcomes without an effect on a profile, waiting for its next write in this run.
  const held = new Map<string, (PendingEntry & { order: number })[]>();
  const settle = (command: Command, key: string | null, order: number, result: CommandResult, trace: TraceContext) => {
    decided.set(commandKey(command.organisationId, command.commandId), result);
    const number = target(command);
    const doc = changed.get(number) ?? docs.get(number);
    if (!doc || doc.organisationId !== command.organisationId) {
      results.push({ key, order, result, trace });
      return;
    }
    held.set(number, [...(held.get(number) ?? []), { commandId: command.commandId, resultKey: key, result, events: [], trace, order }]);
  };

  for (const item of commands) {
    const { command, key, order } = item;
    const trace = traceOf(item);
    const earlier = decided.get(commandKey(command.organisationId, command.commandId));
    if (earlier) {
      results.push({ key, order, result: earlier, trace });
      continue;
    }
    const number = target(command);
    const doc = changed.get(number) ?? docs.get(number);
    if (doc && doc.organisationId === command.organisationId && doc.pending.some((entry) => entry.commandId === command.commandId)) {
      toRelay.set(number, doc); // applied before a crash; relay what it owes
      continue;
    }
    // Created by an earlier attempt whose entry went out: its result, stored before the entry was
    // dropped, is answered above — unless it is not there (removed by hand). The creation made
    // version 1 of the profile its reserved number holds: that is its answer again.
    if (doc && isCreation(command)) {
      const result = resultOf(commandBase(command), { customerNumber: number, status: 'ACCEPTED', version: 1 }, now);
      decided.set(commandKey(command.organisationId, command.commandId), result);
      results.push({ key, order, result, trace });
      continue;
    }
    const org = command.organisationId;
    // A creation's earlier attempt may have taken claims for the number it reserved before it
    // stopped (a crash, a write conflict): those are its own, not taken.
    const ownerOf = (index: ClaimIndex, id: string) => {
      const owner = index.current.get(id) ?? null;
      return !doc && owner === number ? null : owner;
    };
    const context: DecideContext = {
      now: nowIso,
      emailOwner: (email) => ownerOf(emailIndex, claimKey(org, email)),
      accountOwner: (account) => ownerOf(accountIndex, claimKey(org, account)),
      preference: (preferenceKey) => definitions.get(definitionKey(org, preferenceKey)) ?? null,
      allocate: () => ({ customerNumber: number, uuid: options.uuid() }),
    };
    // A temporary profile being merged is gone for every other command.
    const before = doc && !doc.mergingInto ? toProfile(doc) : null;
    if (command.type === 'MergeTemporaryProfile') throw new Error('decideBatch: merges are decided by decideMergeStep');
    const decision = decide(command, before, context);
    switch (decision.kind) {
      case 'rejected':
        settle(command, key, order, resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'REJECTED', code: decision.code, message: decision.message, version: decision.version }, now), trace);
        break;
      case 'defined': {
        definitions.set(definitionKey(org, decision.definition.key), decision.definition);
        newDefinitions.push(decision.definition);
        const result = resultOf(commandBase(command), { customerNumber: null, status: 'ACCEPTED' }, now);
        decided.set(commandKey(org, command.commandId), result);
        results.push({ key, order, result, trace });
        break;
      }
      case 'changed': {
        const after = decision.profile;
        const result = resultOf(commandBase(command), { customerNumber: after.customerNumber, status: 'ACCEPTED', message: decision.message, version: after.version }, now);
        if (decision.eventType === null) {
          settle(command, key, order, result, trace);
          break;
        }
        const actor = 'actor' in command.payload ? command.payload.actor : null;
        const entry: PendingEntry = {
          commandId: command.commandId,
          resultKey: key,
          result,
          events: [changedEvent(after, decision.eventType, { commandId: command.commandId, correlationId: command.correlationId, actor }, nowIso)],
          trace,
          ...(erasureDueOf(after) === null && (before === null || erasureDueOf(before) === null) ? { undated: true as const } : {}),
        };
        decided.set(commandKey(org, command.commandId), result);
        const waiting = (held.get(number) ?? []).map(({ order: _order, ...outcome }) => packEntry(outcome));
        held.delete(number);
        const next: ProfileDoc = { ...after, _id: after.customerNumber, pending: [...(doc ? carriedEntries(doc) : []), ...waiting, packEntry(entry, after)] };
        track(emailIndex, before ? emailsOf(before) : [], emailsOf(after), after.customerNumber);
        track(accountIndex, before ? accountsOf(before) : [], accountsOf(after), after.customerNumber);
        changed.set(number, next);
        toRelay.set(number, next);
        break;
      }
      default: {
        const unreachable: never = decision;
        throw new Error(`unhandled decision ${JSON.stringify(unreachable)}`);
      }
    }
  }
  // Held outcomes with no write after them order before nothing durable: loose.
  for (const outcomes of held.values()) for (const { resultKey, result, order, trace } of outcomes) results.push({ key: resultKey, order, result: result!, ...(trace ? { trace } : {}) });

  // Claims: take what the run now holds, give back what it let go (see apply.ts for the order).
  const claimChanges = (index: ClaimIndex): ClaimChanges => {
    const take: ClaimChanges['take'] = [];
    const release: ClaimChanges['release'] = [];
    for (const id of index.touched) {
      const wanted = index.current.get(id) ?? null;
      const inDb = index.dbOwner.get(id) ?? null;
      if (wanted === inDb) continue;
      if (wanted !== null) take.push({ _id: id, customerNumber: wanted, staleOwner: inDb });
      else if (inDb !== null) release.push({ _id: id, customerNumber: inDb });
    }
    return { take, release };
  };

  const writes = [...changed.values()].map((doc) => ({ doc, expectedVersion: originalVersion(doc._id) }));
  return {
    results,
    relay: [...toRelay.values()],
    writes,
    reservations,
    claims: { emails: claimChanges(emailIndex), accounts: claimChanges(accountIndex) },
    definitions: newDefinitions,
  };
}

/** State a merge is decided against: both profiles (with only their owed entries) and what is stored of the command. */
export type MergeSnapshot = { temporary: ProfileDoc | null; permanent: ProfileDoc | null; stored: CommandDoc | null };

/**
 * A merge touches two profiles, so it is a small resumable saga of single-document writes (see
 * handler.ts): this says which of its steps are left.
 */
/** A merge mark to clear (version-guarded). */
export type Unmark = { customerNumber: string; version: number; permanentNumber: string };

export type MergeStep =
  /**
   * Answered before: send the stored result. Accepted, the merge is finished if a crash stopped it
   * before the temporary profile went; refused by another process (a rebalance) while this one's
   * attempt had marked the temporary profile, the mark is nobody's any more.
   */
  | { kind: 'replayed'; result: LooseResult; finish: ProfileDoc | null; unmark: Unmark | null }
  /** Refused; `unmark` when an earlier attempt had marked the temporary profile. */
  | { kind: 'rejected'; result: LooseResult; unmark: Unmark | null }
  /**
   * Accepted: mark the temporary profile (unless marked), send its owed entries, write the
   * permanent profile with both events and the result (version-guarded), then finish.
   */
  | { kind: 'merge'; mark: boolean; temporary: ProfileDoc; write: { doc: ProfileDoc; expectedVersion: number } }
  /** The permanent profile holds the merge already (a crash after its write): relay it and finish. */
  | { kind: 'written'; permanent: ProfileDoc };

export function decideMergeStep(item: CommandItem & { command: CommandOf<'MergeTemporaryProfile'> }, snapshot: MergeSnapshot, options: Pick<DecideOptions, 'now' | 'traceIds'>): MergeStep {
  const { command } = item;
  const { now } = options;
  const trace = continueTrace(item.trace, options.traceIds);
  const nowIso = now.toISOString();
  const permanentNumber = command.payload.permanentCustomerNumber;
  const { temporary, permanent } = snapshot;
  const replay = snapshot.stored?.result;
  if (replay) {
    const marked = temporary?.mergingInto ? temporary : null;
    const refusedMark = replay.status === 'REJECTED' && marked?.mergingInto === permanentNumber && !permanent?.relatedCustomerNumbers.includes(marked._id);
    return {
      kind: 'replayed',
      result: { key: item.key, order: item.order, result: replay, trace },
      finish: replay.status === 'ACCEPTED' ? marked : null,
      unmark: refusedMark ? { customerNumber: marked._id, version: marked.version, permanentNumber } : null,
    };
  }
  if (permanent?.organisationId === command.organisationId && permanent.pending.some((entry) => entry.commandId === command.commandId)) return { kind: 'written', permanent };

  const reject = (code: RejectionCode, message: string, version: number | null, unmark: boolean): MergeStep => ({
    kind: 'rejected',
    result: { key: item.key, order: item.order, result: resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'REJECTED', code, message, version }, now), trace },
    unmark: unmark && temporary ? { customerNumber: temporary._id, version: temporary.version, permanentNumber } : null,
  });
  // Being merged elsewhere: gone for this merge.
  if (temporary?.mergingInto && temporary.mergingInto !== permanentNumber) return reject('CUSTOMER_NOT_FOUND', `customer ${command.customerNumber} not found`, null, false);
  const decision = decideMerge(command, temporary ? toProfile(temporary) : null, permanent ? toProfile(permanent) : null, nowIso);
  // Marked by an earlier attempt of this merge that stopped before the permanent profile was
  // written, and now refused (the permanent profile was deactivated or erased meanwhile): the
  // temporary profile is nobody's to remove, and lives on.
  if (decision.kind === 'rejected') return reject(decision.code, decision.message, decision.version, temporary?.mergingInto === permanentNumber);
  if (!temporary || !permanent) throw new Error('decideMergeStep: a merge was accepted without both profiles');

  const cause = { commandId: command.commandId, correlationId: command.correlationId, actor: command.payload.actor };
  const deleted = deletedEvent({ organisationId: command.organisationId, customerNumber: command.customerNumber, lastVersion: temporary.version }, 'MERGED', { ...cause, mergedInto: permanentNumber }, nowIso);
  const entry: PendingEntry = {
    commandId: command.commandId,
    resultKey: item.key,
    result: resultOf(commandBase(command), { customerNumber: command.customerNumber, status: 'ACCEPTED', message: `merged into customer ${permanentNumber}`, version: deleted.version }, now),
    events: [changedEvent(decision.permanent, 'MERGED', cause, nowIso), deleted],
    trace,
  };
  const doc: ProfileDoc = { ...decision.permanent, _id: permanentNumber, pending: [...carriedEntries(permanent), packEntry(entry, decision.permanent)] };
  return {
    kind: 'merge',
    mark: !temporary.mergingInto,
    temporary,
    write: { doc, expectedVersion: permanent.version },
  };
}
