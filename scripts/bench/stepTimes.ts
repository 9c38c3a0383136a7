// Where a step's time goes: a StepTracing (shared/tracing.ts) that records how long each span and
// each of its phases took, and how many commands each step handled, for a benchmark to print.
import type { StepTracing } from '../../shared/tracing.ts';
import { percentile } from './observe.ts';

export type Timings = Record<string, { count: number; meanMs: number; p50Ms: number; p99Ms: number }>;

export function stepTimes(): { tracing: StepTracing; recording: (on: boolean) => void; summary: () => Timings } {
  const samples = new Map<string, number[]>();
  let on = false;
  const record = (name: string, value: number) => {
    if (!on) return;
    const list = samples.get(name) ?? [];
    list.push(value);
    samples.set(name, list);
  };
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      record(name, performance.now() - started);
    }
  };
  const tracing: StepTracing = {
    span: (name, attributes, run) => {
      const count = attributes['messaging.batch.message_count'];
      if (typeof count === 'number') record(`${name} commands`, count);
      return timed(name, () => run({ link: () => undefined, phase: timed }));
    },
  };
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    tracing,
    recording: (value) => {
      if (value) samples.clear();
      on = value;
    },
    summary: () =>
      Object.fromEntries(
        [...samples].sort(([a], [b]) => a.localeCompare(b)).map(([name, list]) => {
          const sorted = [...list].sort((a, b) => a - b);
          return [name, { count: sorted.length, meanMs: round(sorted.reduce((sum, value) => sum + value, 0) / sorted.length), p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)) }];
        }),
      ),
  };
}
