import { describe, expect, it } from 'vitest';
import { repairOf } from '../../shared/erasureQueue.ts';
import { erasureDueOf, erasureJobId } from '../../shared/expiry.ts';
import { latestPerCustomer, planSchedule } from '../../workers/scheduler/plan.ts';

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
