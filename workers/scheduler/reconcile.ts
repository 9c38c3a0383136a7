// The reconciliation: MongoDB is the source of truth. Every run loads what is due before the end
// of the horizon and makes sure each has a job that will run by its date, whatever became of the
// one it had (lost with Redis' data, failed for good, finished early, delayed past the date), so
// that nothing outlives its date by more than one interval.
import type { Db } from 'mongodb';
import { expiryViews } from '../../shared/customers/document.ts';
import type { ErasureJobs } from '../../shared/erasureQueue.ts';
import { erasureDueOf } from '../../shared/expiry.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Metrics } from '../../shared/metrics.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';

/**
 * `pending`: scheduled and not yet due (within the horizon); `overdue`: due more than 5 s ago and
 * not erased yet; `repaired`: existing jobs retried or moved earlier by this run.
 */
export type ReconcileReport = { scheduled: number; overdue: number; pending: number; repaired: number };

export function makeReconciler(deps: { db: Db; jobs: Pick<ErasureJobs, 'scheduleMany'>; horizonMs: number; clock: () => Date }) {
  const views = expiryViews(deps.db);
  return {
    ensureIndexes: () => ensureIndexes(deps.db),
    async run(): Promise<ReconcileReport> {
      const now = deps.clock().getTime();
      const horizonEnd = new Date(now + deps.horizonMs).toISOString();
      // ISO 8601 UTC strings of one format sort like the instants they name.
      const docs = await views.collection
        .find({ expirationDate: { $ne: null, $lte: horizonEnd } }, { projection: views.projection })
        .toArray();
      const items = docs.flatMap((doc) => {
        const due = erasureDueOf(doc);
        return due ? [{ target: { organisationId: doc.organisationId, customerNumber: doc._id }, dueAt: Date.parse(due.dueAt) }] : [];
      });
      // Erasures started but not completed (their job was lost, e.g. with Redis' data): run again now.
      const unfinished = await deps.db
        .collection<{ _id: string; organisationId: number; customerNumber: string }>('erasuresInProgress')
        .find({}, { projection: { organisationId: 1, customerNumber: 1 } })
        .toArray();
      items.push(...unfinished.map((receipt) => ({ target: { organisationId: receipt.organisationId, customerNumber: receipt.customerNumber }, dueAt: now })));
      const repaired = await deps.jobs.scheduleMany(items, now);
      // Not a count of every profile with a date: that is one more scan of them all where the server
      // counts without the index (see shared/mongo/compat.ts).
      const pending = items.filter((item) => item.dueAt > now).length;
      return { scheduled: items.length, overdue: items.filter((item) => item.dueAt < now - 5_000).length, pending, repaired };
    },
  };
}

/** Erasures waiting in the queue that make a backlog the reconciliation lets drain first. */
export const minBacklog = 1_000;
/** Reconciliations deferred in a row at most: then one runs, whatever the queue holds. */
export const maxDeferrals = 10;

/**
 * Whether a reconciliation tick waits for the erasure queue to drain: pure. While the deletion
 * worker works through a backlog (`waiting`: due and not yet started; `active`: running), a run
 * could only add or retry jobs behind it — they would not run any sooner — and it would re-read
 * every overdue profile and re-inspect every job while the erasures compete for the same database.
 * Nothing running (the deletion worker stopped) does not defer it, nor do {@link maxDeferrals}
 * deferrals in a row: then the run reports what is overdue.
 */
export function defersReconciliation(queue: { waiting: number; active: number }, deferredInARow: number): boolean {
  return queue.waiting >= minBacklog && queue.active > 0 && deferredInARow < maxDeferrals;
}

/**
 * The processor of the reconciliation job: one run, its figures as metrics, and a warning when it
 * found something late or stuck — unless the erasure queue is draining a backlog ({@link defersReconciliation}).
 */
export function makeReconcileJob(deps: {
  reconciler: Pick<ReturnType<typeof makeReconciler>, 'run'>;
  logger: Logger;
  metrics?: Pick<Metrics, 'expirationsPending' | 'expirationsOverdue'> | undefined;
  /** Erasure jobs due and not yet started (`waiting`), and running (`active`). */
  erasureQueue: () => Promise<{ waiting: number; active: number }>;
}) {
  let deferredInARow = 0;
  return async (): Promise<ReconcileReport | { deferred: { waiting: number; active: number } }> => {
    const queue = await deps.erasureQueue();
    if (defersReconciliation(queue, deferredInARow)) {
      deferredInARow += 1;
      deps.logger.info({ ...queue, deferredInARow }, 'reconciliation deferred: the deletion worker is draining a backlog of erasures');
      return { deferred: queue };
    }
    deferredInARow = 0;
    const report = await deps.reconciler.run();
    deps.metrics?.expirationsPending.set(report.pending);
    deps.metrics?.expirationsOverdue.set(report.overdue);
    if (report.overdue > 0 || report.repaired > 0) deps.logger.warn(report, 'overdue expirations or stuck erasure jobs found by the reconciliation');
    return report;
  };
}
