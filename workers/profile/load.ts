// Reads everything a step decides on, in as few sequential round trips as the data allows: each
// wave issues at once every read that what is known so far calls for. A run of updates takes two
// waves (commands, profiles, definitions and named claims; then the results that tell which of the
// profiles' pending entries went out, the claims of the values they hold where a command can change
// them, and those claims' owners); a redelivery after a crash may take a third.
import type { ClaimKey } from '../../shared/customers/claims.ts';
import { creationsWithoutNumber, itemKey, targetOf, type CommandItem, type Item, type MergeSnapshot, type Snapshot } from './decide.ts';
import type { CommandOf, PreferenceDefinition } from './model.ts';
import { definitionKey, type CommandDoc, type ProfileStore } from './store.ts';
import { mayChangeClaims } from './domain.ts';
import { commandKey, marksToRead, owedOf, type CheckedResults, type OutboxStore } from '../../shared/outbox.ts';
import type { ClaimDoc } from '../../shared/customers/claims.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

/** A snapshot for decideBatch, the new numbers its creations take, and the results looked for (the outbox need not read them again). */
export type Loaded = { snapshot: Snapshot; numbers: string[]; checked: CheckedResults };

export type Loader = ReturnType<typeof makeLoader>;

export function makeLoader(store: ProfileStore, outbox: Pick<OutboxStore, 'openSteps' | 'knownSent' | 'noteSent'>, claimKey: ClaimKey) {
  /** What has been asked for, and what came back. */
  const makeReads = () => ({
    commands: new Map<string, CommandDoc>(),
    commandsAsked: new Set<string>(),
    profiles: new Map<string, ProfileDoc>(),
    /** The wave in which each profile was read (found or not). */
    profileWave: new Map<string, number>(),
    /** Relay steps of older versions found open. */
    steps: new Set<string>(),
    /** Results known stored without reading them (the outbox remembers those it stored). */
    sent: new Set<string>(),
    stepsAsked: new Set<string>(),
    emails: new Map<string, ClaimDoc>(),
    emailsAsked: new Set<string>(),
    accounts: new Map<string, ClaimDoc>(),
    accountsAsked: new Set<string>(),
    definitions: new Map<string, PreferenceDefinition>(),
    definitionsAsked: new Set<string>(),
    /** Commands whose result was read again after their profile was (see below). */
    lateAsked: new Set<string>(),
  });
  type Reads = ReturnType<typeof makeReads>;

  const newOnly = (ids: Iterable<string | null>, asked: Set<string>) => [...new Set(ids)].filter((id): id is string => id !== null && !asked.has(id));

  /** Runs one wave; false when nothing was left to read. */
  async function wave(
    reads: Reads,
    wanted: { commands: Iterable<string>; marks: Iterable<string>; profiles: Iterable<string | null>; steps: Iterable<string>; emails: Iterable<string>; accounts: Iterable<string>; definitions: Iterable<string>; late: Iterable<string> },
    number: number,
  ): Promise<boolean> {
    const commands = newOnly([...wanted.commands, ...wanted.late], reads.commandsAsked);
    const late = newOnly(wanted.late, reads.lateAsked);
    const commandIds = [...new Set([...commands, ...late])];
    // Marks: only whether a result is stored (an earlier command's reservation is of no use).
    const marks = newOnly(wanted.marks, new Set([...reads.commandsAsked, ...commandIds]));
    const profiles = [...new Set(wanted.profiles)].filter((id): id is string => id !== null && !reads.profileWave.has(id));
    const steps = newOnly(wanted.steps, reads.stepsAsked);
    const emails = newOnly(wanted.emails, reads.emailsAsked);
    const accounts = newOnly(wanted.accounts, reads.accountsAsked);
    const definitions = newOnly(wanted.definitions, reads.definitionsAsked);
    if (commandIds.length + marks.length + profiles.length + steps.length + emails.length + accounts.length + definitions.length === 0) return false;
    for (const id of [...commandIds, ...marks]) reads.commandsAsked.add(id);
    for (const id of late) reads.lateAsked.add(id);
    for (const id of profiles) reads.profileWave.set(id, number);
    for (const id of steps) reads.stepsAsked.add(id);
    for (const id of emails) reads.emailsAsked.add(id);
    for (const id of accounts) reads.accountsAsked.add(id);
    for (const id of definitions) reads.definitionsAsked.add(id);
    const [foundCommands, foundMarks, foundProfiles, foundSteps, foundEmails, foundAccounts, foundDefinitions] = await Promise.all([
      store.findCommands(commandIds),
      marks.length > 0 ? store.findCommands(marks, 'results') : new Map<string, CommandDoc>(),
      store.findProfiles(profiles),
      outbox.openSteps(steps),
      store.emails.find(emails),
      store.accounts.find(accounts),
      store.findDefinitions(definitions),
    ]);
    for (const [id, doc] of [...foundCommands, ...foundMarks]) reads.commands.set(id, { ...reads.commands.get(id), ...doc });
    for (const [id, doc] of foundProfiles) reads.profiles.set(id, doc);
    for (const id of foundSteps) reads.steps.add(id);
    for (const [id, claim] of foundEmails) reads.emails.set(id, claim);
    for (const [id, claim] of foundAccounts) reads.accounts.set(id, claim);
    for (const [id, definition] of foundDefinitions) reads.definitions.set(id, definition);
    return true;
  }

  /**
   * The profiles worked on, with only the entries still owed: an entry whose result is stored went
   * out (see shared/outbox.ts), and its command is answered from that result.
   */
  function settle(reads: Reads, worked: Set<string>): Snapshot {
    const profiles = new Map(reads.profiles);
    const stored = [...reads.commands].flatMap(([id, doc]) => (doc.result ? [id] : []));
    outbox.noteSent(stored);
    const relayed = { results: new Set([...stored, ...reads.sent]), openSteps: reads.steps };
    for (const number of worked) {
      const doc = reads.profiles.get(number);
      if (doc) profiles.set(number, owedOf(doc, relayed));
    }
    return { commands: reads.commands, profiles, emailClaims: reads.emails, accountClaims: reads.accounts, definitions: reads.definitions };
  }

  /** The marks to read: those of results not known stored (noted in `reads.sent`). */
  function knownOrToRead(reads: Reads, marks: { results: string[]; steps: string[] }): { results: string[]; steps: string[] } {
    const results: string[] = [];
    for (const key of marks.results) {
      if (outbox.knownSent(key)) reads.sent.add(key);
      else results.push(key);
    }
    return { results, steps: marks.steps };
  }

  return {
    /** Everything a run of commands (no merges) is decided on, and numbers for its new creations. */
    async load(items: readonly Item[]): Promise<Loaded> {
      const reads = makeReads();
      const runCommands = items.filter((item): item is CommandItem => item.kind === 'command');
      let numbers: Promise<string[]> | null = null;
      for (let number = 1; ; number++) {
        // The profiles worked on: the commands' targets. (A change answered before went out: its result is stored.)
        const worked = new Set<string>();
        for (const { command } of runCommands) {
          const target = targetOf(command, reads.commands);
          if (target !== null) worked.add(target);
        }
        const emails: string[] = [];
        const accounts: string[] = [];
        for (const { command } of runCommands) {
          const org = command.organisationId;
          const email = 'fields' in command.payload ? command.payload.fields.email : command.type === 'ConvertToPermanent' ? command.payload.email : undefined;
          if (email) emails.push(claimKey(org, email.toLowerCase()));
          if (command.type === 'AddCustomerAccount') accounts.push(claimKey(org, command.payload.customerAccountId));
          // Every value the target holds or held may be released or taken back within the run by a
          // command that can change them: its claim must be known, or giving it back and taking it
          // again would collide.
          const target = targetOf(command, reads.commands);
          const doc = target === null ? undefined : reads.profiles.get(target);
          if (doc && doc.organisationId === org && mayChangeClaims(command)) {
            for (const value of [doc.email, doc.emailOld]) if (value) emails.push(claimKey(org, value.toLowerCase()));
            for (const account of doc.customerAccounts) accounts.push(claimKey(org, account));
          }
        }
        // A claim counts only while its owner holds the value: owners are read too.
        const owners = [...reads.emails.values(), ...reads.accounts.values()].map((claim) => claim.customerNumber);
        // Which of their pending entries went out: their results, and the relay steps of older versions.
        const marks = knownOrToRead(reads, marksToRead([...worked].flatMap((id) => reads.profiles.get(id) ?? [])));
        // A result stored after the first read of results (another process relayed a change of this
        // run in between) must be replayed, not decided again: read again after the profile was.
        const late = runCommands.flatMap(({ command }) => {
          const key = commandKey(command.organisationId, command.commandId);
          const target = targetOf(command, reads.commands);
          const readIn = target === null ? undefined : reads.profileWave.get(target);
          return readIn !== undefined && readIn < number && !reads.commands.get(key)?.result ? [key] : [];
        });
        if (number === 2) {
          // New numbers come with the second wave (a round trip only when the block is used up).
          numbers = store.allocateNumbers(creationsWithoutNumber(items, reads.commands).length);
          numbers.catch(() => undefined); // awaited below; a failure of the wave must not leave it unhandled
        }
        const more = await wave(
          reads,
          {
            commands: items.map(itemKey).filter((key): key is string => key !== null),
            marks: marks.results,
            profiles: [...worked, ...owners],
            steps: marks.steps,
            emails,
            accounts,
            definitions: runCommands.flatMap(({ command }) => (command.type === 'SetPreference' ? [definitionKey(command.organisationId, command.payload.key)] : [])),
            late,
          },
          number,
        );
        if (!more) {
          const snapshot = settle(reads, worked);
          return {
            snapshot,
            numbers: await (numbers ?? store.allocateNumbers(creationsWithoutNumber(items, reads.commands).length)),
            checked: { ids: reads.commandsAsked, results: new Map([...snapshot.commands].flatMap(([id, doc]) => (doc.result ? [[id, doc.result] as const] : []))) },
          };
        }
      }
    },

    /** Both profiles of a merge, and what is stored of it. */
    async loadMerge(item: CommandItem & { command: CommandOf<'MergeTemporaryProfile'> }): Promise<MergeSnapshot> {
      const { command } = item;
      const key = commandKey(command.organisationId, command.commandId);
      const numbers = [command.customerNumber, command.payload.permanentCustomerNumber];
      const reads = makeReads();
      await wave(reads, { commands: [key], marks: [], profiles: numbers, steps: [], emails: [], accounts: [], definitions: [], late: [] }, 1);
      const marks = knownOrToRead(reads, marksToRead(numbers.flatMap((id) => reads.profiles.get(id) ?? [])));
      await wave(reads, { commands: [], marks: marks.results, profiles: [], steps: marks.steps, emails: [], accounts: [], definitions: [], late: reads.commands.get(key)?.result ? [] : [key] }, 2);
      const snapshot = settle(reads, new Set(numbers));
      return { temporary: snapshot.profiles.get(command.customerNumber) ?? null, permanent: snapshot.profiles.get(command.payload.permanentCustomerNumber) ?? null, stored: snapshot.commands.get(key) ?? null };
    },
  };
}
