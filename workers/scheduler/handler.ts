// What the scheduler does with a batch of schedule records: the record says who changed, MongoDB
// says when they are due (records can arrive out of order); each customer due within the horizon
// gets its erasure job at that date, any other loses its job. A record that sets no date within
// the horizon, for a customer without a job, needs neither.
import type { Db } from 'mongodb';
import { expiryViews } from '../../shared/customers/document.ts';
import type { ErasureJobData, ErasureJobs } from '../../shared/erasureQueue.ts';
import { erasureDueOf, type ScheduleRecord } from '../../shared/expiry.ts';
import type { Batch } from '../../shared/kafka.ts';
import { byIds } from '../../shared/mongo/compat.ts';
import { latestPerCustomer, planSchedule } from './plan.ts';

export type ScheduleHandlerDeps = {
  db: Db;
  jobs: Pick<ErasureJobs, 'cancel' | 'ensure' | 'withJobs'>;
  horizonMs: number;
  clock: () => Date;
};

/** A schedule record, or null for a message that is not one (skipped). */
const parseRecord = (value: Buffer | null): ScheduleRecord | null => {
  try {
    const record = JSON.parse(value?.toString('utf8') ?? '') as ScheduleRecord;
    return typeof record.organisationId === 'number' && typeof record.customerNumber === 'string' ? record : null;
  } catch {
    return null;
  }
};

const targetOf = (record: ScheduleRecord): ErasureJobData => ({ organisationId: record.organisationId, customerNumber: record.customerNumber });

/** The consumer's `handleBatch` for the expirations topic. */
export function makeScheduleHandler(deps: ScheduleHandlerDeps): (batch: Pick<Batch, 'messages'>) => Promise<void> {
  const { jobs, horizonMs, clock } = deps;
  const views = expiryViews(deps.db);
  return async (batch) => {
    const records = batch.messages.map((message) => parseRecord(message.value)).filter((record): record is ScheduleRecord => record !== null);
    const now = clock().getTime();
    const latest = latestPerCustomer(records);
    // A record announcing no erasure within the horizon, for a customer without a job, changes
    // nothing however old it is: only the others need MongoDB's word (most changes set no date).
    const quiet = latest.filter((record) => planSchedule(record, now, horizonMs).kind === 'cancel');
    const hasJob = await jobs.withJobs(quiet.map(targetOf));
    const settled = new Set(quiet.filter((_, index) => !hasJob[index]));
    const toCheck = latest.filter((record) => !settled.has(record));
    if (toCheck.length === 0) return;
    const docs = await byIds(views.collection, toCheck.map((record) => record.customerNumber), { projection: views.projection });
    const toSchedule: { target: ErasureJobData; dueAt: number }[] = [];
    const toCancel: ErasureJobData[] = [];
    for (const record of toCheck) {
      const target = targetOf(record);
      const doc = docs.get(record.customerNumber);
      const due = doc && doc.organisationId === record.organisationId && !doc.mergingInto ? erasureDueOf(doc) : null;
      const plan = planSchedule({ dueAt: due?.dueAt ?? null }, now, horizonMs);
      if (plan.kind === 'schedule') toSchedule.push({ target, dueAt: plan.dueAt });
      else toCancel.push(target);
    }
    await jobs.cancel(toCancel);
    // Read from MongoDB just now: each job fires at its profile's date, moved earlier or later.
    await jobs.ensure(toSchedule, now, 'exact');
  };
}
