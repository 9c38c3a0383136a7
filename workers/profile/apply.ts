// Writes what decide.ts decided, in the order that keeps every crash recoverable: numbers reserved,
// then values claimed, before the profiles are written (so a redelivery reuses the numbers and owns
// the claims taken for them, and no profile holds a value without its claim); values let go are
// given back after. What the writes owe goes out with them (see shared/outbox.ts). A write that
// lost a race throws WriteConflict.
import type { MergeStep, StepDecision, Unmark } from './decide.ts';
import type { ProfileStore } from './store.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

export type Applier = ReturnType<typeof makeApplier>;

/**
 * Every write of a wave, settled before the first failure is thrown: a step that lost a race is
 * decided again only once none of its writes is still on its way (else the retry could meet them).
 */
async function allWritten(writes: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  const outcomes = await Promise.allSettled(writes);
  const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

export function makeApplier(store: ProfileStore) {
  return {
    /**
     * The writes of a run. Returns once the profiles are written, with what it gives back on its
     * way (to be awaited before the step ends: it need not hold up the relay).
     */
    async apply(decision: StepDecision): Promise<{ released: Promise<void> }> {
      const { claims } = decision;
      const take = () => allWritten([store.emails.take(claims.emails.take), store.accounts.take(claims.accounts.take)]);
      // Numbers before claims: a claim taken for a new number counts as its creation's own only
      // once the number is reserved for it (else, after a crash, the claim would block the
      // creation's redelivery, which takes another number).
      const reserved = decision.reservations.length > 0 ? store.reserveCreations(decision.reservations) : null;
      await allWritten([reserved?.then(take) ?? take(), store.putDefinitions(decision.definitions)]);
      await store.writeProfiles(decision.writes);
      const released = allWritten([store.emails.release(claims.emails.release), store.accounts.release(claims.accounts.release)]);
      released.catch(() => undefined); // awaited by the caller; unhandled meanwhile is not an error
      return { released };
    },

    /** 1. Marks the temporary profile: from then on no other command, nor its erasure, touches it. */
    async markMerging(step: Extract<MergeStep, { kind: 'merge' }>): Promise<void> {
      if (step.mark) await store.markMerging(step.temporary._id, step.temporary.version, step.write.doc._id);
    },

    /** 3. The permanent profile, with both events and the result, in one version-guarded write. */
    async writeMerged(step: Extract<MergeStep, { kind: 'merge' }>): Promise<void> {
      await store.writeProfiles([step.write]);
    },

    /** 4. Resumable: claims move over, the temporary profile goes (once the permanent one has it). */
    finishMerge: (temporary: ProfileDoc, permanentNumber: string) => store.finishMerge(temporary, permanentNumber),

    unmark: ({ customerNumber, version, permanentNumber }: Unmark) => store.unmarkMerging(customerNumber, version, permanentNumber),
  };
}
