import { describe, expect, it } from 'vitest';
import { makeMongoWrites } from '../../shared/mongo/compat.ts';

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('a connection\'s write turn', () => {
  it('given two connections, then two turns: one connection never waits for another', async () => {
    const [first, second] = [makeMongoWrites(), makeMongoWrites()];
    expect(first).not.toBe(second);
    const held = gate();
    const holding = first.turn(() => held.opened);
    await expect(second.turn(async () => 'ran')).resolves.toBe('ran');
    held.open();
    await holding;
  });

  it('given a write in its turn, then the next waits for it, and a failed one does not stop the rest', async () => {
    const writes = makeMongoWrites();
    const order: string[] = [];
    const held = gate();
    const first = writes.turn(async () => {
      await held.opened;
      order.push('first');
      throw new Error('refused');
    });
    const second = writes.turn(async () => order.push('second'));
    await Promise.resolve();
    expect(order).toEqual([]);
    held.open();
    await expect(first).rejects.toThrow('refused');
    await second;
    expect(order).toEqual(['first', 'second']);
  });

  it('given operations called while the turn is taken, then they go out together in one batch, in its turn', async () => {
    const writes = makeMongoWrites();
    const batches: number[][] = [];
    const double = writes.grouped<number, number>(async (batch) => {
      batches.push(batch);
      return batch.map((value) => value * 2);
    }, { max: 2 });
    const held = gate();
    const holding = writes.turn(() => held.opened);
    const results = Promise.all([double(1), double(2), double(3)]);
    await Promise.resolve();
    expect(batches).toEqual([]);
    held.open();
    await holding;
    expect(await results).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2], [3]]);
  });
});
