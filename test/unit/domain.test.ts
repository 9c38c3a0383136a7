import { describe, expect, it } from 'vitest';
import { validateCommand } from '../../workers/profile/commands.ts';
import { changedEvent, deletedEvent } from '../../shared/customers/events.ts';
import { decide, decideMerge, emailKeyOf, mayChangeClaims, type DecideContext, type Decision } from '../../workers/profile/domain.ts';
import type { Command, CommandOf, PreferenceDefinition, Profile } from '../../workers/profile/model.ts';
import { limits } from '../../workers/profile/limits.ts';
import { actor, commandJson, creator, headers, isoAfter } from '../helpers/factories.ts';

const now = new Date('2026-11-22T12:00:00Z');
const later = isoAfter(now, 3_600);

function command(type: string, payload: Record<string, unknown>, customerNumber?: string, organisationId = 1): Command {
  const result = validateCommand(commandJson(type, payload, { organisationId, ...(customerNumber ? { customerNumber } : {}) }), headers, now);
  if (!result.ok) throw new Error(result.rejection.message);
  return result.command;
}

function context(overrides: Partial<{ emails: Record<string, string>; accounts: Record<string, string>; preferences: PreferenceDefinition[] }> = {}): DecideContext {
  let next = 1000;
  return {
    now: now.toISOString(),
    emailOwner: (key) => overrides.emails?.[key] ?? null,
    accountOwner: (id) => overrides.accounts?.[id] ?? null,
    preference: (key) => overrides.preferences?.find((definition) => definition.key === key) ?? null,
    allocate: () => ({ customerNumber: String(next++), uuid: 'u'.repeat(32) }),
  };
}

/** Given a profile created by CreateProfile with these fields. */
function givenProfile(fields: Record<string, unknown> = {}, type: 'CreateProfile' | 'CreateTemporaryProfile' = 'CreateProfile'): Profile {
  const payload = type === 'CreateProfile' ? { ...creator, firstName: 'Kari', surname: 'Nordmann', ...fields } : { ...creator, expirationDate: later, ...fields };
  const decision = decide(command(type, payload) as Exclude<Command, CommandOf<'MergeTemporaryProfile'>>, null, context());
  if (decision.kind !== 'changed') throw new Error('expected a profile');
  return decision.profile;
}

const when = (cmd: Command, profile: Profile | null, ctx = context()) => decide(cmd as Exclude<Command, CommandOf<'MergeTemporaryProfile'>>, profile, ctx);
const changed = (decision: Decision) => {
  if (decision.kind !== 'changed') throw new Error(`expected a change, got ${JSON.stringify(decision)}`);
  return decision;
};

describe('decide', () => {
  it('CreateProfile: version 1, number and uuid from the context, customerRef and language defaulted, traceability set', () => {
    const profile = givenProfile({ email: 'Kari@Example.com' });
    expect(profile).toMatchObject({
      customerNumber: '1000',
      customerRef: '1000',
      uuid: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
      profileType: 'S',
      status: 'A',
      email: 'Kari@Example.com',
      languagePreferenceISO6393: 'NOB',
      version: 1,
      createdAt: now.toISOString(),
      createdBy: 'agent-7',
      createdByChannel: 'web',
    });
  });

  it('CreateProfile with an email another profile has (any case): EMAIL_TAKEN', () => {
    const decision = when(command('CreateProfile', { ...creator, firstName: 'A', surname: 'B', email: 'KARI@example.com' }), null, context({ emails: { 'kari@example.com': '77' } }));
    expect(decision).toMatchObject({ kind: 'rejected', code: 'EMAIL_TAKEN' });
    expect((decision as { message: string }).message).not.toContain('kari');
  });

  it('UpdateProfile: given fields set, null clears, absent kept, version +1, changedBy from the command', () => {
    const profile = givenProfile({ email: 'a@b.no', countryCode: '+47', telephoneNumberNoCountryCode: '4000' });
    const decision = changed(when(command('UpdateProfile', { changedBy: 'clerk', changedByChannel: 'app', surname: 'Hansen', email: null }, profile.customerNumber), profile));
    expect(decision.eventType).toBe('UPDATED');
    expect(decision.profile).toMatchObject({ surname: 'Hansen', email: null, countryCode: '+47', firstName: 'Kari', version: 2, changedBy: 'clerk', changedByChannel: 'app' });
  });

  it('UpdateProfile that changes nothing: accepted, same version, no event', () => {
    const profile = givenProfile();
    const decision = changed(when(command('UpdateProfile', { ...actor, firstName: 'Kari' }, profile.customerNumber), profile));
    expect(decision).toMatchObject({ eventType: null, profile: { version: 1 } });
  });

  it('UpdateProfile on a temporary profile: NOT_PERMANENT; UpdateTemporaryProfile on a permanent: NOT_TEMPORARY', () => {
    const temporary = givenProfile({}, 'CreateTemporaryProfile');
    expect(when(command('UpdateProfile', { ...actor, surname: 'X' }, temporary.customerNumber), temporary)).toMatchObject({ code: 'NOT_PERMANENT' });
    const permanent = givenProfile();
    expect(when(command('UpdateTemporaryProfile', { ...actor, expirationDate: later }, permanent.customerNumber), permanent)).toMatchObject({ code: 'NOT_TEMPORARY' });
  });

  it('a profile of another organisation answers exactly like a missing one', () => {
    const profile = givenProfile();
    const foreign = when(command('UpdateProfile', { ...actor, surname: 'X' }, profile.customerNumber, 2), profile);
    const missing = when(command('UpdateProfile', { ...actor, surname: 'X' }, profile.customerNumber, 2), null);
    expect(foreign).toEqual(missing);
    expect(foreign).toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });

  it('CreateTemporaryProfile then UpdateTemporaryProfile: all personal fields overwritten, absent ones cleared', () => {
    const temporary = givenProfile({ firstName: 'Tor', email: 't@x.no' }, 'CreateTemporaryProfile');
    expect(temporary).toMatchObject({ profileType: 'T', expirationDate: later, firstName: 'Tor' });
    const newDate = isoAfter(now, 7_200);
    const decision = changed(when(command('UpdateTemporaryProfile', { ...actor, expirationDate: newDate, surname: 'Li' }, temporary.customerNumber), temporary));
    expect(decision.profile).toMatchObject({ firstName: null, email: null, surname: 'Li', expirationDate: newDate, version: 2 });
  });

  it('ConvertToPermanent: becomes S, expiration cleared, event CONVERTED', () => {
    const temporary = givenProfile({}, 'CreateTemporaryProfile');
    const decision = changed(when(command('ConvertToPermanent', { ...actor, firstName: 'Ola', surname: 'Normann', customerRef: 'ref-1' }, temporary.customerNumber), temporary));
    expect(decision).toMatchObject({ eventType: 'CONVERTED', profile: { profileType: 'S', expirationDate: null, firstName: 'Ola', customerRef: 'ref-1', version: 2 } });
    expect(when(command('ConvertToPermanent', { ...actor, firstName: 'A', surname: 'B' }, decision.profile.customerNumber), decision.profile)).toMatchObject({ code: 'NOT_TEMPORARY' });
  });

  it('SetPreference with a value not allowed: the answer names at most ten of the allowed values, however many there are', () => {
    const profile = givenProfile();
    const allowedValues = Array.from({ length: 200 }, (_, index) => `${'v'.repeat(250)}${index}`);
    const decision = when(command('SetPreference', { key: 'zone', value: 'other' }, profile.customerNumber), profile, context({ preferences: [{ organisationId: 1, key: 'zone', description: null, allowedValues }] }));
    expect(decision).toMatchObject({ code: 'PREFERENCE_VALUE_NOT_ALLOWED' });
    const message = (decision as { message: string }).message;
    expect(message).toContain('(200 in all)');
    expect(message.length).toBeLessThan(11 * 260);
  });

  it('SetPreference: undefined key, value not allowed, then set; RemovePreference removes', () => {
    const profile = givenProfile();
    const definitions = [{ organisationId: 1, key: 'assistance', description: null, allowedValues: ['wheelchair', 'guide'] }];
    expect(when(command('SetPreference', { key: 'seat', value: 'window' }, profile.customerNumber), profile)).toMatchObject({ code: 'PREFERENCE_NOT_DEFINED' });
    expect(when(command('SetPreference', { key: 'assistance', value: 'jetpack' }, profile.customerNumber), profile, context({ preferences: definitions }))).toMatchObject({
      code: 'PREFERENCE_VALUE_NOT_ALLOWED',
    });
    const set = changed(when(command('SetPreference', { key: 'assistance', value: 'guide' }, profile.customerNumber), profile, context({ preferences: definitions })));
    expect(set.profile.preferences).toEqual([{ key: 'assistance', value: 'guide' }]);
    const removed = changed(when(command('RemovePreference', { key: 'assistance' }, profile.customerNumber), set.profile));
    expect(removed.profile).toMatchObject({ preferences: [], version: 3 });
  });

  it('AddCustomerAccount: taken by another profile is ACCOUNT_TAKEN; adding twice is one link', () => {
    const profile = givenProfile();
    expect(when(command('AddCustomerAccount', { customerAccountId: 'acc-1' }, profile.customerNumber), profile, context({ accounts: { 'acc-1': '999' } }))).toMatchObject({
      code: 'ACCOUNT_TAKEN',
    });
    const added = changed(when(command('AddCustomerAccount', { customerAccountId: 'acc-1' }, profile.customerNumber), profile));
    expect(added.profile.customerAccounts).toEqual(['acc-1']);
    const again = changed(when(command('AddCustomerAccount', { customerAccountId: 'acc-1' }, profile.customerNumber), added.profile, context({ accounts: { 'acc-1': profile.customerNumber } })));
    expect(again).toMatchObject({ eventType: null, profile: { version: 2 } });
    const removed = changed(when(command('RemoveCustomerAccount', { customerAccountId: 'acc-1' }, profile.customerNumber), added.profile));
    expect(removed.profile.customerAccounts).toEqual([]);
  });

  it('SetPreference of a new key on a profile at the preference cap: LIMIT_EXCEEDED naming the cap; an existing key may still change', () => {
    const preferences = Array.from({ length: limits.preferences }, (_, index) => ({ key: `k${String(index).padStart(3, '0')}`, value: 'v' }));
    const profile = { ...givenProfile(), preferences };
    const definitions = ['k000', 'new'].map((key) => ({ organisationId: 1, key, description: null, allowedValues: null }));
    const ctx = context({ preferences: definitions });
    expect(when(command('SetPreference', { key: 'new', value: 'x' }, profile.customerNumber), profile, ctx)).toEqual({
      kind: 'rejected',
      code: 'LIMIT_EXCEEDED',
      message: `preferences: at most ${limits.preferences} per profile`,
      version: 1,
    });
    expect(changed(when(command('SetPreference', { key: 'k000', value: 'changed' }, profile.customerNumber), profile, ctx)).profile.preferences).toHaveLength(limits.preferences);
  });

  it('AddCustomerAccount on a profile at the account cap: LIMIT_EXCEEDED naming the cap; a linked account is still a no-op', () => {
    const customerAccounts = Array.from({ length: limits.customerAccounts }, (_, index) => `acc-${index}`);
    const profile = { ...givenProfile(), customerAccounts };
    expect(when(command('AddCustomerAccount', { customerAccountId: 'acc-new' }, profile.customerNumber), profile)).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: `customerAccounts: at most ${limits.customerAccounts} per profile`,
    });
    expect(changed(when(command('AddCustomerAccount', { customerAccountId: 'acc-0' }, profile.customerNumber), profile))).toMatchObject({ eventType: null });
    expect(changed(when(command('AddCustomerAccount', { customerAccountId: 'acc-new' }, profile.customerNumber), { ...profile, customerAccounts: customerAccounts.slice(1) })).profile.customerAccounts).toHaveLength(limits.customerAccounts);
  });

  it('DeactivateCustomer: status D, email moved to emailOld; later commands but Restore are CUSTOMER_DEACTIVATED', () => {
    const profile = givenProfile({ email: 'a@b.no' });
    const deactivated = changed(when(command('DeactivateCustomer', { ...actor, expirationDate: later }, profile.customerNumber), profile));
    expect(deactivated).toMatchObject({ eventType: 'DEACTIVATED', profile: { status: 'D', email: null, emailOld: 'a@b.no', expirationDate: later, version: 2 } });
    expect(when(command('UpdateProfile', { ...actor, surname: 'X' }, profile.customerNumber), deactivated.profile)).toMatchObject({ code: 'CUSTOMER_DEACTIVATED' });
    expect(when(command('DeactivateCustomer', { ...actor, expirationDate: later }, profile.customerNumber), deactivated.profile)).toMatchObject({ code: 'CUSTOMER_DEACTIVATED' });
  });

  it('RestoreCustomer: email back when free; kept aside with a message when taken; NOT_DEACTIVATED otherwise', () => {
    const profile = givenProfile({ email: 'a@b.no' });
    expect(when(command('RestoreCustomer', actor, profile.customerNumber), profile)).toMatchObject({ code: 'NOT_DEACTIVATED' });
    const deactivated = changed(when(command('DeactivateCustomer', { ...actor, expirationDate: later }, profile.customerNumber), profile)).profile;
    const restored = changed(when(command('RestoreCustomer', actor, profile.customerNumber), deactivated));
    expect(restored).toMatchObject({ eventType: 'RESTORED', message: null, profile: { status: 'A', email: 'a@b.no', emailOld: null, expirationDate: null, version: 3 } });
    const taken = changed(when(command('RestoreCustomer', actor, profile.customerNumber), deactivated, context({ emails: { 'a@b.no': '555' } })));
    expect(taken.profile).toMatchObject({ status: 'A', email: null, emailOld: 'a@b.no' });
    expect(taken.message).toMatch(/without email/);
  });

  it('RestoreCustomer of a temporary profile gives back its own expirationDate, or keeps the deactivation date when that is later', () => {
    const own = isoAfter(now, 7 * 86_400);
    const deletion = isoAfter(now, 3 * 86_400);
    const temporary = givenProfile({ expirationDate: own }, 'CreateTemporaryProfile');
    const deactivated = changed(when(command('DeactivateCustomer', { ...actor, expirationDate: deletion }, temporary.customerNumber), temporary));
    expect(deactivated.profile).toMatchObject({ status: 'D', expirationDate: deletion });
    const restored = changed(when(command('RestoreCustomer', actor, temporary.customerNumber), deactivated.profile));
    expect(restored.profile).toMatchObject({ status: 'A', profileType: 'T', expirationDate: own });
    expect(restored.profile).not.toHaveProperty('ownExpirationDate');
    // Internal: never shown in an event.
    const event = changedEvent(deactivated.profile, 'DEACTIVATED', { commandId: 'c', correlationId: 'k', actor: null }, now.toISOString());
    expect(event.profile).not.toHaveProperty('ownExpirationDate');
    expect(event.profile).toMatchObject({ expirationDate: deletion });
    // Its own date passed while it was deactivated: not erased at once, but at the deactivation's date.
    const expiring = givenProfile({ expirationDate: isoAfter(now, 60) }, 'CreateTemporaryProfile');
    const parked = changed(when(command('DeactivateCustomer', { ...actor, expirationDate: deletion }, expiring.customerNumber), expiring)).profile;
    expect(changed(when(command('RestoreCustomer', actor, expiring.customerNumber), parked)).profile).toMatchObject({ status: 'A', expirationDate: deletion });
  });
});

describe('decideMerge', () => {
  const nowIso = now.toISOString();
  const merge = (temporary: string, permanent: string) => command('MergeTemporaryProfile', { ...actor, permanentCustomerNumber: permanent }, temporary) as CommandOf<'MergeTemporaryProfile'>;

  it('the permanent gains the number, the preferences it lacks and the accounts; the temporary goes', () => {
    const permanent = { ...givenProfile(), customerNumber: '10', preferences: [{ key: 'seat', value: 'aisle' }], customerAccounts: ['p-1'] };
    const temporary = { ...givenProfile({}, 'CreateTemporaryProfile'), customerNumber: '20', preferences: [{ key: 'seat', value: 'window' }, { key: 'assist', value: 'yes' }], customerAccounts: ['t-1'] };
    const decision = decideMerge(merge('20', '10'), temporary, permanent, nowIso);
    expect(decision).toMatchObject({
      kind: 'merged',
      permanent: {
        relatedCustomerNumbers: ['20'],
        preferences: [{ key: 'assist', value: 'yes' }, { key: 'seat', value: 'aisle' }],
        customerAccounts: ['p-1', 't-1'],
        version: 2,
        changedBy: 'agent-7',
      },
    });
  });

  it.each([
    ['customerAccounts', (count: number) => ({ customerAccounts: Array.from({ length: count }, (_, index) => `acc-${index}`) }), (count: number) => ({ customerAccounts: [`acc-${count}`] })],
    ['preferences', (count: number) => ({ preferences: Array.from({ length: count }, (_, index) => ({ key: `p${index}`, value: 'v' })) }), () => ({ preferences: [{ key: 'other', value: 'v' }] })],
    ['relatedCustomerNumbers', (count: number) => ({ relatedCustomerNumbers: Array.from({ length: count }, (_, index) => String(100_000 + index)) }), () => ({})],
  ] as const)('a merge that would take %s past its cap: LIMIT_EXCEEDED naming the cap, nothing merged', (list, full, extra) => {
    const cap = limits[list];
    const permanent = { ...givenProfile(), customerNumber: '10', ...full(cap) };
    const temporary = { ...givenProfile({}, 'CreateTemporaryProfile'), customerNumber: '20', ...extra(cap) };
    expect(decideMerge(merge('20', '10'), temporary, permanent, nowIso)).toEqual({ kind: 'rejected', code: 'LIMIT_EXCEEDED', message: `${list}: at most ${cap} per profile`, version: temporary.version });
    // One below the cap, the same merge fits.
    expect(decideMerge(merge('20', '10'), temporary, { ...permanent, ...full(cap - 1) }, nowIso)).toMatchObject({ kind: 'merged' });
  });

  it('rejects a permanent "temporary", a temporary "permanent", a foreign or missing profile', () => {
    const permanent = { ...givenProfile(), customerNumber: '10' };
    const temporary = { ...givenProfile({}, 'CreateTemporaryProfile'), customerNumber: '20' };
    expect(decideMerge(merge('10', '20'), permanent, temporary, nowIso)).toMatchObject({ code: 'NOT_TEMPORARY' });
    expect(decideMerge(merge('20', '21'), temporary, { ...temporary, customerNumber: '21' }, nowIso)).toMatchObject({ code: 'NOT_PERMANENT' });
    expect(decideMerge(merge('20', '10'), temporary, { ...permanent, organisationId: 2 }, nowIso)).toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
    expect(decideMerge(merge('20', '10'), null, permanent, nowIso)).toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });
});

describe('events', () => {
  it('a change carries the full profile; an erasure carries no personal data', () => {
    const profile = givenProfile({ email: 'a@b.no', dateOfBirth: '1990-01-01' });
    const event = changedEvent(profile, 'CREATED', { commandId: 'c1', correlationId: 'k1', actor: null }, now.toISOString());
    expect(event).toMatchObject({ eventId: `1-${profile.customerNumber}-1`, version: 1, profile: { email: 'a@b.no' } });
    const deleted = deletedEvent({ organisationId: 1, customerNumber: profile.customerNumber, lastVersion: 4 }, 'MERGED', { commandId: 'c2', correlationId: 'k2', actor: null, mergedInto: '10' }, now.toISOString());
    expect(deleted).toMatchObject({ eventType: 'DELETED', reason: 'MERGED', mergedInto: '10', version: 5, profile: null });
    expect(JSON.stringify(deleted)).not.toMatch(/a@b\.no|1990|Kari|Nordmann/);
  });
});

describe('mayChangeClaims: which commands can change the values a profile holds claims for', () => {
  const holding = (fields: Record<string, unknown> = {}, type: 'CreateProfile' | 'CreateTemporaryProfile' = 'CreateProfile') => ({ ...givenProfile({ email: 'Kari@Example.com', ...fields }, type), customerAccounts: ['ABT-1', 'ABT-2'] });
  const claimed = (profile: Profile) => ({ email: emailKeyOf(profile), accounts: profile.customerAccounts });
  const preferences = [{ organisationId: 1, key: 'seat', description: null, allowedValues: null }];

  it('given a command it says cannot, then no decision of it changes the email held or the accounts', () => {
    const permanent = holding();
    const cases: [Command, Profile][] = [
      [command('SetPreference', { ...actor, key: 'seat', value: 'window' }, permanent.customerNumber), permanent],
      [command('RemovePreference', { ...actor, key: 'seat' }, permanent.customerNumber), permanent],
      [command('UpdateProfile', { ...actor, surname: 'Hansen', countryCode: '+47', telephoneNumberNoCountryCode: '4000' }, permanent.customerNumber), permanent],
    ];
    for (const [cmd, profile] of cases) {
      expect(mayChangeClaims(cmd), cmd.type).toBe(false);
      const decision = when(cmd, profile, context({ preferences }));
      if (decision.kind === 'changed') expect(claimed(decision.profile), cmd.type).toEqual(claimed(profile));
    }
  });

  it('given an update naming an email (even to clear it), a temporary update (it overwrites every field), an account command, a deactivation or a restore, then it can', () => {
    const profile = holding();
    const temporary = holding({}, 'CreateTemporaryProfile');
    const withoutEmail = command('UpdateTemporaryProfile', { ...actor, expirationDate: isoAfter(now, 7_200), firstName: 'Ola' }, temporary.customerNumber);
    expect(emailKeyOf(changed(when(withoutEmail, temporary)).profile)).toBeNull();
    for (const cmd of [
      withoutEmail,
      command('UpdateProfile', { ...actor, email: 'ola@example.com' }, profile.customerNumber),
      command('UpdateProfile', { ...actor, email: null }, profile.customerNumber),
      command('AddCustomerAccount', { ...actor, customerAccountId: 'ABT-3' }, profile.customerNumber),
      command('RemoveCustomerAccount', { ...actor, customerAccountId: 'ABT-1' }, profile.customerNumber),
      command('DeactivateCustomer', { ...actor, expirationDate: later }, profile.customerNumber),
      command('RestoreCustomer', actor, profile.customerNumber),
    ]) {
      expect(mayChangeClaims(cmd), cmd.type).toBe(true);
    }
  });
});
