// The erasure saga (SPEC §6): idempotent and resumable. A start record is written first; every
// step is safe to repeat, so a crash anywhere resumes from the start record at the next run of the
// job; the receipt, with every step, is written when it completes.
import type { ClaimKey } from '../../shared/customers/claims.ts';
import { erasureDueOf } from '../../shared/expiry.ts';
import { SuiteError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { deletedEvent } from '../../shared/customers/events.ts';
import type { CustomerChanged } from '../../shared/customers/model.ts';

import { erasureSteps, receiptKey, type ErasureReceipt, type ErasureStart, type ErasureStep, type ErasureStore } from './store.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

export type ErasureTarget = { organisationId: number; customerNumber: string };

export type ErasureOutcome =
  | { kind: 'erased'; receipt: ErasureReceipt }
  | { kind: 'already-erased' }
  | { kind: 'nothing-to-erase' }
  /** Not due yet: try again at `dueAt`. */
  | { kind: 'not-due'; dueAt: string | null };

export type EraserDeps = {
  store: ErasureStore;
  /** Claim keys, with the profile worker's secret (shared/claims.ts). */
  claimKey: ClaimKey;
  /** Removes every queue job about the customer but `runningJobId`, the one running this erasure (if any). */
  removeJobs: (target: ErasureTarget, runningJobId?: string) => Promise<void>;
  /** Publishes the DELETED event; resolves once the broker acknowledged it. */
  publishDeleted: (event: CustomerChanged) => Promise<void>;
  clock: () => Date;
  logger: Logger;
  /** Test hooks: called before and after each step (fault injection). */
  beforeStep?: (step: ErasureStep) => void | Promise<void>;
  afterStep?: (step: ErasureStep) => void | Promise<void>;
};

/** The profile still has changes to relay: erase after they went out (the job retries). */
export class UnrelayedChangesError extends SuiteError {
  constructor() {
    super('SERVICE_UNAVAILABLE', 'the profile has changes not yet relayed; erasure retried later', { retriable: true });
  }
}

/** The claim keys a profile may hold: its email (and the one it replaced), its accounts. */
function claimsOf(profile: ProfileDoc, claimKey: ClaimKey): { emails: string[]; accounts: string[] } {
  const emails = [profile.email, profile.emailOld].flatMap((email) => (email ? [claimKey(profile.organisationId, email.toLowerCase())] : []));
  return { emails: [...new Set(emails)], accounts: profile.customerAccounts.map((account) => claimKey(profile.organisationId, account)) };
}

export function makeEraser(deps: EraserDeps) {
  const { store, logger } = deps;

  async function start(target: ErasureTarget): Promise<{ start: ErasureStart; profile: ProfileDoc } | ErasureOutcome> {
    const profile = await store.findProfile(target.customerNumber);
    // A profile being merged is removed by its merge.
    if (!profile || profile.organisationId !== target.organisationId || profile.mergingInto) return { kind: 'nothing-to-erase' };
    const due = erasureDueOf(profile);
    const now = deps.clock();
    if (!due || Date.parse(due.dueAt) > now.getTime()) return { kind: 'not-due', dueAt: due?.dueAt ?? null };
    if (await store.hasUnrelayed(profile)) throw new UnrelayedChangesError();
    const started: ErasureStart = {
      _id: receiptKey(target.organisationId, target.customerNumber),
      organisationId: target.organisationId,
      customerNumber: target.customerNumber,
      reason: due.reason,
      requestedAt: due.dueAt,
      startedAt: now.toISOString(),
      lastVersion: profile.version,
      customerSince: profile.createdAt,
    };
    if (await store.start(started)) return { start: started, profile };
    const theirs = await store.findStart(started._id);
    return theirs ? { start: theirs, profile } : { kind: 'nothing-to-erase' };
  }

  /** Runs a step (each is safe to repeat: none is recorded before the receipt). */
  async function step(name: ErasureStep, run: () => Promise<void>): Promise<void> {
    await deps.beforeStep?.(name);
    await run();
    await deps.afterStep?.(name);
  }

  /** Erases the customer; `options.jobId`: the queue job running this erasure. */
  async function erase(target: ErasureTarget, options: { jobId?: string } = {}): Promise<ErasureOutcome> {
    const id = receiptKey(target.organisationId, target.customerNumber);
    const [done, existing] = await Promise.all([store.findReceipt(id), store.findStart(id)]);
    if (done) {
      if (existing) await store.abandon(existing); // left by a crash between the receipt and its removal
      return { kind: 'already-erased' };
    }
    let started: ErasureStart;
    let profile: ProfileDoc | null;
    if (existing) {
      started = existing;
      // Resuming: the profile tells which claims it holds, if it is still there.
      profile = await store.findProfile(existing.customerNumber);
    } else {
      const begun = await start(target);
      if ('kind' in begun) return begun;
      ({ start: started, profile } = begun);
    }
    // The claims of the profile as erased, by key; unknown once it is gone (then by customer number).
    const claims = profile && profile.version === started.lastVersion && profile.organisationId === started.organisationId ? claimsOf(profile, deps.claimKey) : undefined;

    let decideAgain = false;
    await step('profile', async () => {
      if (await store.deleteProfile(started.customerNumber, started.lastVersion)) return;
      const current = await store.findProfile(started.customerNumber);
      if (current) {
        // Changed since the start (restored, converted, rescheduled at the last moment): decide again.
        await store.abandon(started);
        decideAgain = true;
        return;
      }
      // Gone: deleted by an earlier attempt of this erasure (or with others in the same bulk write)
      // — unless a merge removed it (its receipt is written before the removal: the merge sent the
      // DELETED event, there is nothing left to erase), or another saga, deciding later at a newer
      // version, deleted it: then resume that one.
      if (await store.findReceipt(started._id)) {
        await store.abandon(started);
        decideAgain = true;
        return;
      }
      const latest = await store.findStart(started._id);
      decideAgain = latest?.lastVersion !== started.lastVersion || latest.startedAt !== started.startedAt;
    });
    if (decideAgain) return erase(target, options);

    await step('claims', () => store.deleteClaims(started.customerNumber, claims));
    await step('jobs', () => deps.removeJobs(target, options.jobId));
    // A command that raced the erasure may have claimed a value for the customer just before its
    // write failed: look again later, by customer number (recorded before the receipt, so that a
    // crash after it cannot lose the sweep).
    await store.sweepClaimsLater(started);
    await step('event', () =>
      deps.publishDeleted(
        deletedEvent(
          { organisationId: started.organisationId, customerNumber: started.customerNumber, lastVersion: started.lastVersion },
          started.reason,
          { commandId: null, correlationId: `erasure-${started._id}`, actor: null },
          deps.clock().toISOString(),
        ),
      ),
    );
    const completedAt = deps.clock().toISOString();
    await store.complete(started, completedAt);
    logger.info({ organisationId: started.organisationId, customerNumber: started.customerNumber, reason: started.reason, correlationId: `erasure-${started._id}` }, 'customer erased');
    const receipt: ErasureReceipt = { ...started, completedAt, steps: [...erasureSteps] };
    return { kind: 'erased', receipt };
  }

  return { erase };
}
