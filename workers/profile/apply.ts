// Writes what decide.ts decided, in the order that keeps every crash recoverable: numbers reserved,
// then values claimed, and the relay step recorded, before the profiles are written (so a
// redelivery reuses the numbers and owns the claims taken for them, no profile holds a value
// without its claim, and the sweep finds what the writes owe); values let go are given back after.
// A write that lost a race throws WriteConflict.
import type { MergeStep, StepDecision, Unmark } from './decide.ts';
import type { ProfileStore } from './store.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';
import type { OutboxSteps } from '../../shared/outbox.ts';

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

export function makeApplier(store: ProfileStore, steps: Pick<OutboxSteps, 'openStep'>) {
  return {
    /** The writes of a run; what it gives back is given back once the profiles are written. */
    async apply(decision: StepDecision): Promise<void> {
      const { claims, step } = decision;
      const take = () => allWritten([store.emails.take(claims.emails.take), store.accounts.take(claims.accounts.take)]);
      // Numbers before claims: a claim taken for a new number counts as its creation's own only
      // once the number is reserved for it (else, after a crash, the claim would block the
      // creation's redelivery, which takes another number).
      const reserved = decision.reservations.length > 0 ? store.reserveCreations(decision.reservations) : null;
      await allWritten([reserved?.then(take) ?? take(), step ? steps.openStep(step.id, step.writes) : undefined, store.putDefinitions(decision.definitions)]);
      await store.writeProfiles(decision.writes);
      await allWritten([store.emails.release(claims.emails.release), store.accounts.release(claims.accounts.release)]);
    },

    /** 1. Marks the temporary profile: from then on no other command, nor its erasure, touches it. */
    async markMerging(step: Extract<MergeStep, { kind: 'merge' }>): Promise<void> {
      if (step.mark) await store.markMerging(step.temporary._id, step.temporary.version, step.write.doc._id);
    },

    /** 3. The permanent profile, with both events and the result, in one version-guarded write. */
    async writeMerged(step: Extract<MergeStep, { kind: 'merge' }>): Promise<void> {
      await steps.openStep(step.step.id, step.step.writes);
      await store.writeProfiles([step.write]);
    },

    /** 4. Resumable: claims move over, the temporary profile goes (once the permanent one has it). */
    finishMerge: (temporary: ProfileDoc, permanentNumber: string) => store.finishMerge(temporary, permanentNumber),

    unmark: ({ customerNumber, version, permanentNumber }: Unmark) => store.unmarkMerging(customerNumber, version, permanentNumber),
  };
}
