// What the deletion worker does with one erasure job: runs the saga; a job that fired before its
// date waits for it in the same job.
import { DelayedError, type Job } from 'bullmq';
import type { ErasureJobData } from '../../shared/erasureQueue.ts';
import type { ErasureReceipt } from './store.ts';
import type { Metrics } from '../../shared/metrics.ts';
import type { ErasureOutcome, makeEraser } from './erase.ts';

export type ErasureProcessorDeps = {
  eraser: Pick<ReturnType<typeof makeEraser>, 'erase'>;
  metrics?: Pick<Metrics, 'erasuresTotal' | 'erasureLagSeconds'>;
};

/** How long after its due date (the receipt's `requestedAt`) an erasure completed; never negative. */
export const erasureLagSeconds = (receipt: Pick<ErasureReceipt, 'requestedAt' | 'completedAt'>): number =>
  Math.max(0, (Date.parse(receipt.completedAt) - Date.parse(receipt.requestedAt)) / 1_000);

/** The BullMQ processor of the erasure queue; returns the outcome's kind (kept with the job). */
export function makeErasureProcessor(deps: ErasureProcessorDeps) {
  return async (job: Job<ErasureJobData>, token?: string): Promise<ErasureOutcome['kind']> => {
    const outcome = await deps.eraser.erase(job.data, job.id ? { jobId: job.id } : {});
    if (outcome.kind === 'not-due' && outcome.dueAt !== null && token) {
      // Fired early (clock skew) or rescheduled: wait for the date in the same job.
      await job.moveToDelayed(Date.parse(outcome.dueAt), token);
      throw new DelayedError();
    }
    if (outcome.kind === 'erased') {
      deps.metrics?.erasuresTotal.inc({ reason: outcome.receipt.reason });
      deps.metrics?.erasureLagSeconds.observe(erasureLagSeconds(outcome.receipt));
    }
    return outcome.kind;
  };
}
