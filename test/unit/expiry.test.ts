import { describe, expect, it } from 'vitest';
import { repairOf } from '../../shared/erasureQueue.ts';
import { erasureDueOf, erasureJobId } from '../../shared/expiry.ts';
import { makeLogger } from '../../shared/logger.ts';
import { latestPerCustomer, planSchedule } from '../../workers/scheduler/plan.ts';
import { makeReconcileJob, maxDeferrals, minBacklog } from '../../workers/scheduler/reconcile.ts';

describe('erasureDueOf', () => {
  it('given a temporary profile, then EXPIRED at its expirationDate', () => {
    expect(erasureDueOf({ profileType: 'T', status: 'A', expirationDate: '2030-01-01T00:00:00.000Z' })).toEqual({ dueAt: '2030-01-01T00:00:00.000Z', reason: 'EXPIRED' });
  });
  it('given a deactivated profile of any type, then DEACTIVATION_EXPIRED', () => {
    expect(erasureDueOf({ profileType: 'S', status: 'D', expirationDate: '2030-01-01T00:00:00.000Z' })?.reason).toBe('DEACTIVATION_EXPIRED');
    expect(erasureDueOf({ profileType: 'T', status: 'D', expirationDate: '2030-01-01T00:00:00.000Z' })?.reason).toBe('DEACTIVATION_EXPIRED');
  });
  it('given an active permanent profile or no date, then nothing', () => {
    expect(erasureDueOf({ profileType: 'S', status: 'A', expirationDate: null })).toBeNull();
    expect(erasureDueOf({ profileType: 'P', status: 'P', expirationDate: '2030-01-01T00:00:00.000Z' })).toBeNull();
  });
  it('job ids are stable, distinct per customer and organisation, and do not show the number', () => {
    expect(erasureJobId(1, '1000042')).toBe(erasureJobId(1, '1000042'));
    expect(erasureJobId(1, '1000042')).not.toBe(erasureJobId(2, '1000042'));
    expect(erasureJobId(1, '1000042')).not.toContain('1000042');
  });
});

describe('planSchedule', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  it('given a date within the horizon (or past), then a job at that date', () => {
    expect(planSchedule({ dueAt: '2026-11-22T12:01:00.000Z' }, now, 300_000)).toEqual({ kind: 'schedule', dueAt: Date.parse('2026-11-22T12:01:00Z') });
    expect(planSchedule({ dueAt: '2026-11-22T11:00:00.000Z' }, now, 300_000).kind).toBe('schedule');
  });
  it('given a date beyond the horizon or none, then no job in Redis', () => {
    expect(planSchedule({ dueAt: '2026-12-22T12:00:00.000Z' }, now, 300_000)).toEqual({ kind: 'cancel' });
    expect(planSchedule({ dueAt: null }, now, 300_000)).toEqual({ kind: 'cancel' });
  });
  it('keeps the newest record per customer', () => {
    const records = [
      { organisationId: 1, customerNumber: '5', version: 1, dueAt: 'a' },
      { organisationId: 1, customerNumber: '5', version: 3, dueAt: null },
      { organisationId: 2, customerNumber: '5', version: 2, dueAt: 'b' },
      { organisationId: 1, customerNumber: '5', version: 2, dueAt: 'c' },
    ];
    expect(latestPerCustomer(records)).toEqual([records[1], records[2]]);
  });
});

describe('repairOf', () => {
  const at = Date.parse('2026-11-22T12:00:00Z');
  it('given a job failed for good or finished, then it is retried, whatever the mode', () => {
    expect(repairOf({ kind: 'failed' }, at, 'not-later')).toBe('retry-failed');
    expect(repairOf({ kind: 'completed' }, at, 'exact')).toBe('retry-completed');
  });
  it('given a job delayed past its date, then it is moved, by the scheduler and the reconciliation alike', () => {
    expect(repairOf({ kind: 'delayed', fireAt: at + 60_000 }, at, 'not-later')).toBe('move');
    expect(repairOf({ kind: 'delayed', fireAt: at + 60_000 }, at, 'exact')).toBe('move');
  });
  it('given a job delayed before its date, then only the scheduler moves it (the reconciliation may have read an older date)', () => {
    expect(repairOf({ kind: 'delayed', fireAt: at - 60_000 }, at, 'not-later')).toBeNull();
    expect(repairOf({ kind: 'delayed', fireAt: at - 60_000 }, at, 'exact')).toBe('move');
  });
  it('given a job at its date (within a second), waiting or running, then it is left alone', () => {
    expect(repairOf({ kind: 'delayed', fireAt: at + 500 }, at, 'exact')).toBeNull();
    expect(repairOf({ kind: 'elsewhere' }, at, 'exact')).toBeNull();
  });
});

describe('the reconciliation job while erasures drain a backlog', () => {
  const report = { scheduled: 3, overdue: 0, pending: 3, repaired: 0 };
  const jobWith = (queue: { waiting: number; active: number }[]) => {
    let runs = 0;
    const counts = [...queue];
    const job = makeReconcileJob({
      reconciler: { run: async () => (runs++, report) },
      logger: makeLogger({ level: 'silent' }),
      erasureQueue: async () => counts.shift()!,
    });
    return { job, runs: () => runs };
  };

  it('given a backlog being worked on, then it waits for it to drain', async () => {
    const { job, runs } = jobWith([{ waiting: 50_000, active: 256 }]);
    expect(await job()).toEqual({ deferred: { waiting: 50_000, active: 256 } });
    expect(runs()).toBe(0);
  });
  it('given nothing running (the deletion worker stopped), or a small backlog, then it runs', async () => {
    const { job, runs } = jobWith([
      { waiting: 50_000, active: 0 },
      { waiting: minBacklog - 1, active: 256 },
    ]);
    expect(await job()).toEqual(report);
    expect(await job()).toEqual(report);
    expect(runs()).toBe(2);
  });
  it(`given a backlog that lasts, then it runs after ${maxDeferrals} deferrals in a row`, async () => {
    const { job, runs } = jobWith(Array.from({ length: maxDeferrals + 2 }, () => ({ waiting: 50_000, active: 256 })));
    for (let tick = 0; tick < maxDeferrals; tick++) await job();
    expect(runs()).toBe(0);
    expect(await job()).toEqual(report);
    expect(await job()).toEqual({ deferred: { waiting: 50_000, active: 256 } });
    expect(runs()).toBe(1);
  });
});
