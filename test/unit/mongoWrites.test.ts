import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { serialWrites } from '../../shared/mongo.ts';
import { writesOf } from '../../shared/mongo/compat.ts';

// Clients that never connect: the turn is the process's own, no server is asked.
const client = () => new MongoClient('mongodb://127.0.0.1:1/unused');

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('a connection\'s write turn', () => {
  it('given one client, then one turn, whichever database or caller asks (the deprecated serialWrites(db) included)', () => {
    const one = client();
    expect(writesOf(one)).toBe(writesOf(one));
    expect(serialWrites(one.db('a'))).toBe(writesOf(one).turn);
    expect(serialWrites(one.db('b'))).toBe(writesOf(one).turn);
  });

  it('given two clients, then two turns: one connection never waits for another', async () => {
    const [first, second] = [writesOf(client()), writesOf(client())];
    expect(first).not.toBe(second);
    const held = gate();
    const holding = first.turn(() => held.opened);
    await expect(second.turn(async () => 'ran')).resolves.toBe('ran');
    held.open();
    await holding;
  });

  it('given a write in its turn, then the next waits for it, and a failed one does not stop the rest', async () => {
    const writes = writesOf(client());
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
    const writes = writesOf(client());
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
