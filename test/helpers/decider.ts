// Decider-style test helpers for the profile worker's pure core (workers/profile/decide.ts):
// `given(profiles, claims, stored results…).when(commands…)` runs decideBatch (or decideMergeStep)
// with a fixed clock, counted uuids and a fixed step id, and gives back the decision with accessors
// that read it the way a user would: results by command, events by profile (decoded from the
// written `pending` entries), writes and claims.
import { makeClaimKey } from '../../shared/customers/claims.ts';
import { validateCommand } from '../../workers/profile/commands.ts';
import { decideBatch, decideMergeStep, type CommandItem, type Item, type MergeStep, type RejectedItem, type Snapshot, type StepDecision } from '../../workers/profile/decide.ts';

import type { Command, CommandOf, CommandResult, CustomerChanged, PreferenceDefinition, RejectionCode } from '../../workers/profile/model.ts';
import { claimLeaseMs, definitionKey, type CommandDoc } from '../../workers/profile/store.ts';
import { actor, commandJson, creator, headers, isoAfter } from './factories.ts';
import { commandKey, entriesOf, packEntry, type LooseResult, type PendingEntry } from '../../shared/outbox.ts';
import { changedEvent, type ChangeType } from '../../shared/customers/events.ts';
import type { ClaimDoc } from '../../shared/customers/claims.ts';
import { toProfile, type ProfileDoc } from '../../shared/customers/document.ts';
import type { TraceIds } from '../../shared/tracing.ts';

export const now = new Date('2026-11-22T12:00:00Z');
export const org = 1;
export const claimKey = makeClaimKey('test-secret-for-claim-keys-of-32+chars');
const later = isoAfter(now, 3 * 86_400);
const createdAt = '2026-01-01T00:00:00.000Z';

// ---------------------------------------------------------------- profiles

/** A stored permanent profile at `version`, with no entries owed. */
export function permanent(customerNumber: string, overrides: Partial<ProfileDoc> = {}): ProfileDoc {
  return {
    _id: customerNumber,
    pending: [],
    uuid: `uuid-${customerNumber}`.padEnd(32, '0'),
    customerNumber,
    customerRef: customerNumber,
    organisationId: org,
    profileType: 'S',
    status: 'A',
    firstName: 'Kari',
    surname: 'Nordmann',
    email: null,
    emailOld: null,
    emailVerifiedAt: null,
    countryCode: null,
    telephoneNumberNoCountryCode: null,
    landlineNumber: null,
    telephoneNumberVerifiedAt: null,
    dateOfBirth: null,
    dateOfDeath: null,
    nationality: null,
    languagePreferenceISO6393: 'NOB',
    expirationDate: null,
    relatedCustomerNumbers: [],
    postalAddresses: [],
    preferences: [],
    customerAccounts: [],
    createdAt,
    createdBy: 'agent-1',
    createdByChannel: 'web',
    changedAt: createdAt,
    changedBy: 'agent-1',
    changedByChannel: 'web',
    version: 1,
    ...overrides,
  };
}

/** A stored temporary profile expiring in three days. */
export const temporary = (customerNumber: string, overrides: Partial<ProfileDoc> = {}): ProfileDoc =>
  permanent(customerNumber, { profileType: 'T', firstName: null, surname: null, expirationDate: later, ...overrides });

/** The profile as an earlier attempt left it: `command`'s change applied, its entry still owed (its result not stored). */
export function holding(doc: ProfileDoc, command: Command, eventType: ChangeType = 'UPDATED'): ProfileDoc {
  const event = changedEvent(toProfile(doc), eventType, { commandId: command.commandId, correlationId: command.correlationId, actor: null }, isoAfter(now, -60));
  const entry: PendingEntry = { commandId: command.commandId, resultKey: keyOf(command), result: accepted(command, { customerNumber: doc._id, version: doc.version }), events: [event] };
  return { ...doc, pending: [...doc.pending, packEntry(entry)] };
}

// ---------------------------------------------------------------- commands

let commandCount = 0;
type CommandOptions = { organisationId?: number; commandId?: string };

/** A command validated as the worker validates it (throws if the test wrote an invalid one). */
export function command(type: string, payload: Record<string, unknown>, customerNumber: string | null, options: CommandOptions = {}): Command {
  const commandId = options.commandId ?? `cmd-${++commandCount}`;
  const raw = commandJson(type, payload, { commandId, organisationId: options.organisationId ?? org, ...(customerNumber !== null ? { customerNumber } : {}) });
  const validation = validateCommand(raw, headers, now);
  if (!validation.ok) throw new Error(`test command invalid: ${validation.rejection.message}`);
  return validation.command;
}

export const create = (fields: Record<string, unknown> = {}, options?: CommandOptions) =>
  command('CreateProfile', { ...creator, firstName: 'Ola', surname: 'Nordmann', ...fields }, null, options) as CommandOf<'CreateProfile'>;
export const createTemporary = (fields: Record<string, unknown> = {}, options?: CommandOptions) =>
  command('CreateTemporaryProfile', { ...creator, expirationDate: later, ...fields }, null, options) as CommandOf<'CreateTemporaryProfile'>;
export const update = (customerNumber: string, fields: Record<string, unknown>, options?: CommandOptions) =>
  command('UpdateProfile', { ...actor, ...fields }, customerNumber, options) as CommandOf<'UpdateProfile'>;
export const updateTemporary = (customerNumber: string, fields: Record<string, unknown> = {}, options?: CommandOptions) =>
  command('UpdateTemporaryProfile', { ...actor, expirationDate: later, ...fields }, customerNumber, options) as CommandOf<'UpdateTemporaryProfile'>;
export const addAccount = (customerNumber: string, customerAccountId: string, options?: CommandOptions) =>
  command('AddCustomerAccount', { customerAccountId }, customerNumber, options) as CommandOf<'AddCustomerAccount'>;
export const definePreference = (key: string, allowedValues: string[] | null = null, options?: CommandOptions) =>
  command('DefinePreference', { key, allowedValues }, null, options) as CommandOf<'DefinePreference'>;
export const setPreference = (customerNumber: string, key: string, value: string, options?: CommandOptions) =>
  command('SetPreference', { key, value }, customerNumber, options) as CommandOf<'SetPreference'>;
export const merge = (temporaryNumber: string, permanentNumber: string, options?: CommandOptions) =>
  command('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanentNumber }, temporaryNumber, options) as CommandOf<'MergeTemporaryProfile'>;

/** The Kafka key a client gives it (SPEC §3.1): the profile's, or the commandId for creations and definitions. */
export const keyOf = (command: Command) => (command.customerNumber === null ? command.commandId : `${command.organisationId}:${command.customerNumber}`);

/** A message that validation refused, but that can still be answered (it has a commandId). */
export function refused(code: RejectionCode, message: string, meta: Partial<RejectedItem['meta']> = {}): Omit<RejectedItem, 'order'> {
  return {
    kind: 'rejected',
    key: 'client-key',
    meta: { commandId: `cmd-${++commandCount}`, organisationId: org, customerNumber: null, commandType: 'UpdateProfile', ...meta },
    correlationId: headers.correlationId,
    clientName: headers.clientName,
    code,
    message,
  };
}

/** A command as it came in a message with a `traceparent` header (see {@link traced}). */
export const traced = (command: Command, traceparent: string): Omit<CommandItem, 'order'> => ({ kind: 'command', key: keyOf(command), command, trace: { traceparent } });

/** What a step is given: commands, commands with their message's trace context, refused messages. */
type Input = Command | Omit<CommandItem, 'order'> | Omit<RejectedItem, 'order'>;

/** Commands and refused messages at their place in the step (their order), keyed as a client keys them. */
export const itemsOf = (inputs: readonly Input[]): Item[] =>
  inputs.map((input, order) => ('kind' in input ? { ...input, order } : ({ kind: 'command', order, key: keyOf(input), command: input } satisfies CommandItem)));

// ---------------------------------------------------------------- stored results

const earlier = isoAfter(now, -60);
const resultBase = (command: Command) => ({
  commandId: command.commandId,
  correlationId: command.correlationId,
  clientName: command.clientName,
  organisationId: command.organisationId,
  commandType: command.type,
  processedAt: earlier,
});

/** An accepted result as an earlier delivery stored it. */
export const accepted = (command: Command, outcome: { customerNumber: string; version: number }): CommandResult => ({
  ...resultBase(command),
  ...outcome,
  status: 'ACCEPTED',
  code: null,
  message: null,
});

/** A rejection as an earlier delivery stored it. */
export const rejected = (command: Command, code: RejectionCode, version: number | null = null): CommandResult => ({
  ...resultBase(command),
  customerNumber: command.customerNumber,
  status: 'REJECTED',
  code,
  message: `refused earlier: ${code}`,
  version,
});

// ---------------------------------------------------------------- given / when

/** A claim `ageMs` old (by default long past the lease). */
const claimOf = (organisationId: number, value: string, owner: string, ageMs: number): [string, ClaimDoc] => {
  const id = claimKey(organisationId, value);
  return [id, { _id: id, customerNumber: owner, at: new Date(now.getTime() - ageMs) }];
};

export const oldClaim = 10 * claimLeaseMs;
export const youngClaim = claimLeaseMs / 2;

export class Given {
  private readonly profiles = new Map<string, ProfileDoc>();
  private readonly commands = new Map<string, CommandDoc>();
  private readonly emailClaims = new Map<string, ClaimDoc>();
  private readonly accountClaims = new Map<string, ClaimDoc>();
  private readonly definitions = new Map<string, PreferenceDefinition>();
  private numbers: string[] = ['2000001', '2000002', '2000003', '2000004'];

  constructor(profiles: ProfileDoc[]) {
    for (const doc of profiles) this.profiles.set(doc._id, doc);
  }

  /** The profile's own claims on its email and accounts, as a normal write leaves them. */
  withOwnClaims(): this {
    for (const doc of this.profiles.values()) {
      if (doc.email && doc.status !== 'D') this.emailClaim(doc.email.toLowerCase(), doc._id, oldClaim, doc.organisationId);
      for (const account of doc.customerAccounts) this.accountClaim(account, doc._id, oldClaim, doc.organisationId);
    }
    return this;
  }

  emailClaim(email: string, owner: string, ageMs = oldClaim, organisationId = org): this {
    const [id, claim] = claimOf(organisationId, email.toLowerCase(), owner, ageMs);
    this.emailClaims.set(id, claim);
    return this;
  }

  accountClaim(account: string, owner: string, ageMs = oldClaim, organisationId = org): this {
    const [id, claim] = claimOf(organisationId, account, owner, ageMs);
    this.accountClaims.set(id, claim);
    return this;
  }

  /** The result stored for a command by an earlier delivery. */
  stored(command: Command, result: CommandResult): this {
    const key = commandKey(command.organisationId, command.commandId);
    this.commands.set(key, { ...this.commands.get(key), _id: key, result, resultKey: keyOf(command) });
    return this;
  }

  /** The number an earlier attempt reserved for a creation. */
  reserved(command: Command, customerNumber: string): this {
    const key = commandKey(command.organisationId, command.commandId);
    this.commands.set(key, { ...this.commands.get(key), _id: key, customerNumber });
    return this;
  }

  defined(key: string, allowedValues: string[] | null = null, organisationId = org): this {
    this.definitions.set(definitionKey(organisationId, key), { organisationId, key, description: null, allowedValues });
    return this;
  }

  /** The new numbers the loader hands out for creations without a reserved one. */
  withNumbers(...numbers: string[]): this {
    this.numbers = numbers;
    return this;
  }

  snapshot(): Snapshot {
    return { commands: this.commands, profiles: this.profiles, emailClaims: this.emailClaims, accountClaims: this.accountClaims, definitions: this.definitions };
  }

  /** decideBatch on these commands (and refused messages), in this order. */
  when(...inputs: Input[]): Decided {
    let uuids = 0;
    const uuid = () => `uuid${String(++uuids).padStart(28, '0')}`;
    return new Decided(decideBatch(itemsOf(inputs), this.snapshot(), { now, numbers: this.numbers, uuid, claimKey, traceIds: countedTraceIds() }), this.profiles);
  }

  /** decideMergeStep on a merge, against the two profiles given (and what is stored of it). */
  whenMerge(command: CommandOf<'MergeTemporaryProfile'>, traceparent?: string): MergeStep {
    const item = { kind: 'command', order: 0, key: keyOf(command), command, ...(traceparent ? { trace: { traceparent } } : {}) } as const;
    const snapshot = {
      temporary: this.profiles.get(command.customerNumber) ?? null,
      permanent: this.profiles.get(command.payload.permanentCustomerNumber) ?? null,
      stored: this.commands.get(commandKey(command.organisationId, command.commandId)) ?? null,
    };
    return decideMergeStep(item, snapshot, { now, traceIds: countedTraceIds() });
  }
}

/** Trace and span ids counted from 1 (hex, never all zeros). */
export function countedTraceIds(): TraceIds {
  let traces = 0;
  let spans = 0;
  return { traceId: () => (++traces).toString(16).padStart(32, '0'), spanId: () => (++spans).toString(16).padStart(16, '0') };
}

export const given = (...profiles: ProfileDoc[]) => new Given(profiles);

// ---------------------------------------------------------------- then

/** A decision, read as its user reads it. */
export class Decided {
  readonly decision: StepDecision;
  /** The profiles as given (with the entries an earlier attempt left owed). */
  readonly before: ReadonlyMap<string, ProfileDoc>;

  constructor(decision: StepDecision, before: ReadonlyMap<string, ProfileDoc> = new Map()) {
    this.decision = decision;
    this.before = before;
  }

  /** The write of one profile (throws when it is not written). */
  write(customerNumber: string): StepDecision['writes'][number] {
    const write = this.decision.writes.find(({ doc }) => doc._id === customerNumber);
    if (!write) throw new Error(`profile ${customerNumber} is not written; written: ${this.decision.writes.map(({ doc }) => doc._id).join(', ') || 'none'}`);
    return write;
  }

  /** The entries a profile's write owes (decoded), in order. */
  entries(customerNumber: string): PendingEntry[] {
    return entriesOf(this.write(customerNumber).doc);
  }

  /** The entries this step added to a profile (not those an earlier attempt left owed). */
  newEntries(customerNumber: string): PendingEntry[] {
    const doc = this.write(customerNumber).doc;
    const earlier = new Set(this.before.get(customerNumber)?.pending.map((entry) => entry.commandId));
    return entriesOf({ ...doc, pending: doc.pending.filter((entry) => !earlier.has(entry.commandId)) });
  }

  /** The events this step writes for a profile, in order. */
  events(customerNumber: string): CustomerChanged[] {
    return this.newEntries(customerNumber).flatMap((entry) => entry.events);
  }

  /** Results sent on their own. */
  get loose(): LooseResult[] {
    return this.decision.results;
  }

  /** Every result the decision gives a command: loose, or inside a written entry. */
  outcomes(command: Command): CommandResult[] {
    const matches = (commandId: string | null, organisationId: number | null) => commandId === command.commandId && organisationId === command.organisationId;
    const loose = this.decision.results.filter(({ result }) => matches(result.commandId, result.organisationId)).map(({ result }) => result);
    const written = this.decision.writes.flatMap(({ doc }) => entriesOf(doc)).filter((entry) => entry.result && matches(entry.commandId, entry.result.organisationId)).map((entry) => entry.result!);
    return [...loose, ...written];
  }

  /** The one outcome of a command (throws if none, or more than one). */
  result(command: Command): CommandResult {
    const all = this.outcomes(command);
    if (all.length !== 1) throw new Error(`command ${command.commandId}: expected one result, found ${all.length}: ${JSON.stringify(all)}`);
    return all[0]!;
  }

  /** Every event the decision writes, over all profiles. */
  get allEvents(): CustomerChanged[] {
    return this.decision.writes.flatMap(({ doc }) => entriesOf(doc)).flatMap((entry) => entry.events);
  }

  /** Whether a command's result is sent on its own (not inside a profile's write). */
  isLoose(command: Command): boolean {
    return this.decision.results.some(({ result }) => result.commandId === command.commandId && result.organisationId === command.organisationId);
  }

  get claims() {
    return this.decision.claims;
  }
}

/** The claim key of an email or account of organisation `org`, as the claim collections hold it. */
export const claimOfValue = (value: string, organisationId = org) => claimKey(organisationId, value.toLowerCase());
/** Accounts are case-sensitive ids: keyed as given. */
export const claimOfAccount = (value: string, organisationId = org) => claimKey(organisationId, value);
