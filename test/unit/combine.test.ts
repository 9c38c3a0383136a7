import { describe, expect, it } from 'vitest';
import { combine } from '../../shared/combine.ts';

describe('combine (group commit)', () => {
  it('calls made while a batch is on its way go out together in the next one, each caller getting its own result', async () => {
    const batches: number[][] = [];
    const inFlight: (() => void)[] = [];
    const double = combine<number, number>(
      async (operations) => {
        batches.push(operations);
        await new Promise<void>((resolve) => inFlight.push(resolve));
        return operations.map((operation) => operation * 2);
      },
      { max: 3 },
    );

    const first = double(1);
    await Promise.resolve();
    await Promise.resolve();
    const later = [double(2), double(3), double(4), double(5)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1]]);
    inFlight.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    // At most `max` per batch: the rest waits for the next turn.
    expect(batches).toEqual([[1], [2, 3, 4]]);
    inFlight.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
    inFlight.shift()!();
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8, 10]);
  });

  it('a failed batch fails its callers only; the next batch still goes', async () => {
    let calls = 0;
    const run = combine<string, string>(
      async (operations) => {
        calls += 1;
        if (operations.includes('bad')) throw new Error('refused');
        return operations.map((operation) => operation.toUpperCase());
      },
      { max: 10 },
    );
    const bad = run('bad');
    const sameBatch = run('ok');
    await expect(bad).rejects.toThrow('refused');
    await expect(sameBatch).rejects.toThrow('refused');
    expect(await run('next')).toBe('NEXT');
    expect(calls).toBe(2);
  });
});
