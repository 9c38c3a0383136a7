// The erasure saga (SPEC §6): idempotent and resumable. A receipt is written first; each step is
// safe to repeat and recorded when done; a crash anywhere resumes at the next run of the job.
import { erasureDueOf } from '../../shared/expiry.ts';
import { SuiteError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { deletedEvent } from '../profile/domain.ts';
import type { CustomerChanged } from '../profile/model.ts';
import { claimKey, type ProfileDoc } from '../profile/store.ts';
import { receiptKey, type ErasureReceipt, type ErasureStep, type ErasureStore } from './store.ts';

export type ErasureTarget = { organisationId: number; customerNumber: string };

export type ErasureOutcome =
  | { kind: 'erased'; receipt: ErasureReceipt }
  | { kind: 'already-erased' }
  | { kind: 'nothing-to-erase' }
  /** Not due yet: try again at `dueAt`. */
  | { kind: 'not-due'; dueAt: string | null };

export type EraserDeps = {
  store: ErasureStore;
  /** Removes every queue job about the customer (but the one running this erasure). */
  removeJobs: (target: ErasureTarget) => Promise<void>;
  /** Publishes the DELETED event; resolves once the broker acknowledged it. */
  publishDeleted: (event: CustomerChanged) => Promise<void>;
  clock: () => Date;
  logger: Logger;
  /** Test hook: called after each step (fault injection). */
  afterStep?: (step: ErasureStep) => void | Promise<void>;
};

/** The profile still has changes to relay: erase after they went out (the job retries). */
export class UnrelayedChangesError extends SuiteError {
  constructor() {
    super('SERVICE_UNAVAILABLE', 'the profile has changes not yet relayed; erasure retried later', { retriable: true });
  }
}

/** The claim keys a profile may hold: its email (and the one it replaced), its accounts. */
function claimsOf(profile: ProfileDoc): { emails: string[]; accounts: string[] } {
  const emails = [profile.email, profile.emailOld].flatMap((email) => (email ? [claimKey(profile.organisationId, email.toLowerCase())] : []));
  return { emails: [...new Set(emails)], accounts: profile.customerAccounts.map((account) => claimKey(profile.organisationId, account)) };
}

export function makeEraser(deps: EraserDeps) {
  const { store, logger } = deps;

  async function start(target: ErasureTarget): Promise<{ receipt: ErasureReceipt; profile: ProfileDoc } | ErasureOutcome> {
    const profile = await store.findProfile(target.customerNumber);
    // A profile being merged is removed by its merge.
    if (!profile || profile.organisationId !== target.organisationId || profile.mergingInto) return { kind: 'nothing-to-erase' };
    const due = erasureDueOf(profile);
    const now = deps.clock();
    if (!due || Date.parse(due.dueAt) > now.getTime()) return { kind: 'not-due', dueAt: due?.dueAt ?? null };
    if (await store.hasUnrelayed(profile)) throw new UnrelayedChangesError();
    const receipt: ErasureReceipt = {
      _id: receiptKey(target.organisationId, target.customerNumber),
      organisationId: target.organisationId,
      customerNumber: target.customerNumber,
      reason: due.reason,
      requestedAt: due.dueAt,
      startedAt: now.toISOString(),
      completedAt: null,
      steps: [],
      lastVersion: profile.version,
    };
    if (await store.startReceipt(receipt)) return { receipt, profile };
    const theirs = await store.findReceipt(receipt._id);
    return theirs ? { receipt: theirs, profile } : { kind: 'nothing-to-erase' };
  }

  /**
   * Runs a step unless the receipt lists it. Only `profile` is recorded as it is done (the rest are
   * cheap to repeat after a crash, and recorded with the completion): every receipt update costs
   * the database about as much as several inserts.
   */
  async function step(receipt: ErasureReceipt, name: ErasureStep, run: () => Promise<void>, options: { record: boolean }): Promise<void> {
    if (receipt.steps.includes(name)) return;
    await run();
    if (options.record) await store.stepDone(receipt._id, name);
    receipt.steps.push(name);
    await deps.afterStep?.(name);
  }

  async function erase(target: ErasureTarget): Promise<ErasureOutcome> {
    const existing = await store.findReceipt(receiptKey(target.organisationId, target.customerNumber));
    if (existing?.completedAt) return { kind: 'already-erased' };
    let receipt: ErasureReceipt;
    let profile: ProfileDoc | null;
    if (existing) {
      receipt = existing;
      // Resuming: the profile tells which claims it holds, if it is still there.
      profile = existing.steps.includes('claims') ? null : await store.findProfile(existing.customerNumber);
    } else {
      const started = await start(target);
      if ('kind' in started) return started;
      ({ receipt, profile } = started);
    }
    // The claims of the profile as erased, by key; unknown once it is gone (then by customer number).
    const claims = profile && profile.version === receipt.lastVersion && profile.organisationId === receipt.organisationId ? claimsOf(profile) : undefined;

    let abandoned = false;
    await step(receipt, 'profile', async () => {
      if (await store.deleteProfile(receipt.customerNumber, receipt.lastVersion)) return;
      const current = await store.findProfile(receipt.customerNumber);
      if (!current) return; // deleted by an earlier attempt (or with others in the same bulk write)
      // Changed since the receipt (restored, converted, rescheduled at the last moment): decide again.
      await store.abandon(receipt._id);
      abandoned = true;
    }, { record: true });
    if (abandoned) return erase(target);

    await step(receipt, 'claims', () => store.deleteClaims(receipt.customerNumber, claims), { record: false });
    await step(receipt, 'jobs', () => deps.removeJobs(target), { record: false });
    // A command that raced the erasure may have claimed a value for the customer just before its
    // write failed: look again, by customer number, with the other customers erased meanwhile.
    store.sweepClaimsLater(receipt.customerNumber);
    if (!receipt.steps.includes('event')) {
      const event = deletedEvent(
        { organisationId: receipt.organisationId, customerNumber: receipt.customerNumber, lastVersion: receipt.lastVersion },
        receipt.reason,
        { commandId: null, correlationId: `erasure-${receipt._id}`, actor: null },
        deps.clock().toISOString(),
      );
      await deps.publishDeleted(event);
    }
    // Every step is recorded with the completion, in one write.
    const completedAt = deps.clock().toISOString();
    await store.complete(receipt._id, completedAt);
    if (!receipt.steps.includes('event')) {
      receipt.steps.push('event');
      await deps.afterStep?.('event');
    }
    logger.info({ organisationId: receipt.organisationId, customerNumber: receipt.customerNumber, reason: receipt.reason, correlationId: `erasure-${receipt._id}` }, 'customer erased');
    return { kind: 'erased', receipt: { ...receipt, completedAt } };
  }

  return { erase };
}
