import { describe, expect, it } from 'vitest';
import { owedOf, stepSettled, type ProfileSeen } from '../../shared/outbox.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

/** Only what stepSettled reads of a profile document. */
const doc = (version: number, steps: string[] = []): ProfileDoc => ({ version, pending: steps.map((step) => ({ commandId: 'c', resultKey: null, step, body: '{}' })) }) as unknown as ProfileDoc;

const settled = (versions: (number | null)[] | undefined, seen: ProfileSeen[]) =>
  stepSettled('s1', { profiles: seen.map((_, index) => String(index)), ...(versions ? { versions } : {}) }, (number) => seen[Number(number)]);

describe('a relay step is closed only when none of its writes can still land unrelayed', () => {
  it('given each profile holding the step\'s entries, then settled (they go out now)', () => {
    expect(settled([3, null], [doc(4, ['s1']), doc(1, ['s1'])])).toBe(true);
  });

  it('given a profile still at the version the write expects, without the entries, then open (the write may still come)', () => {
    expect(settled([3], [doc(3)])).toBe(false);
  });

  it('given a profile past the expected version without the entries, then settled (the guarded write can no longer land)', () => {
    expect(settled([3], [doc(5, ['other'])])).toBe(true);
  });

  it('given a creation whose profile exists without the entries, then settled (the insert would collide)', () => {
    expect(settled([null], [doc(1)])).toBe(true);
  });

  it('given a creation whose profile is absent, then open: the insert may still come', () => {
    expect(settled([null], ['absent'])).toBe(false);
  });

  it('given a creation whose profile was erased or merged away (a receipt), then settled', () => {
    expect(settled([null], ['erased'])).toBe(true);
  });

  it('given a replaced profile that is gone, then settled (a replace never brings it back)', () => {
    expect(settled([2], ['absent'])).toBe(true);
  });

  it('given a profile not looked at, then open', () => {
    expect(settled([2, 2], [doc(3, ['s1']), undefined])).toBe(false);
  });

  it('given a step without versions (an older suite\'s), then only the entries themselves settle it', () => {
    expect(settled(undefined, [doc(9)])).toBe(false);
    expect(settled(undefined, [doc(9, ['s1'])])).toBe(true);
  });

  it('given a profile recorded as settled in a step still open for others, then it counts as settled and owes the step nothing', () => {
    expect(stepSettled('s1', { profiles: ['0', '1'], versions: [1, 1], settled: ['0'] }, (number) => (number === '0' ? undefined : doc(2)))).toBe(true);
    const owing = { ...doc(2, ['s1', 's2']), _id: '0' } as ProfileDoc;
    const open = new Map([
      ['s1', { profiles: ['0', '1'], settled: ['0'] }],
      ['s2', { profiles: ['0'] }],
    ]);
    expect(owedOf(owing, open).pending.map((entry) => entry.step)).toEqual(['s2']);
  });
});
