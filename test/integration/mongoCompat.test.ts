import { describe, expect, it } from 'vitest';
import type { CommandStartedEvent } from 'mongodb';
import { bulkChunk, byIds, findUpTo, groupedByIds, inTurn } from '../../shared/mongo/compat.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { ensureIndexes } from '../../shared/mongo/indexes.ts';
import { cleanup, freshMongo, testConfig } from '../helpers/services.ts';

type Doc = { _id: string; value: string };

describe('MongoDB writes stated as intent (shared/mongo/compat.ts)', () => {
  it('insertOnce inserts what is not stored, keeps what is, and names the ids that were there', async () => {
    const mongo = await freshMongo('insertonce');
    const docs = mongo.db.collection<Doc>('docs');
    await docs.insertMany([{ _id: 'a', value: 'stored' }, { _id: 'b', value: 'stored' }]);

    const existing = await mongo.writes.insertOnce(docs, [
      { _id: 'a', value: 'new' },
      { _id: 'c', value: 'first' },
      { _id: 'c', value: 'second' }, // the same id twice in one call: the first is inserted
      { _id: 'd', value: 'new' },
    ]);
    expect([...existing].sort()).toEqual(['a']);
    const after = await byIds(docs, ['a', 'b', 'c', 'd']);
    expect(Object.fromEntries([...after].map(([id, doc]) => [id, doc.value]))).toEqual({ a: 'stored', b: 'stored', c: 'first', d: 'new' });

    // Many already there (a redelivery): looked up first, the same answer.
    const again = await mongo.writes.insertOnce(docs, [{ _id: 'b', value: 'x' }, { _id: 'd', value: 'x' }, { _id: 'e', value: 'new' }], { manyExisting: true });
    expect([...again].sort()).toEqual(['b', 'd']);
    expect((await docs.findOne({ _id: 'e' }))?.value).toBe('new');
    expect(await mongo.writes.insertOnce(docs, [])).toEqual(new Set());
  });

  it('bulkWrite goes in chunks and sums what they did; byIds and findUpTo read by id and up to a limit', async () => {
    const mongo = await freshMongo('bulk');
    const docs = mongo.db.collection<Doc>('docs');
    const count = bulkChunk + 5;
    const ids = Array.from({ length: count }, (_, index) => `id-${String(index).padStart(5, '0')}`);
    const inserted = await mongo.writes.bulkWrite(docs, ids.map((_id) => ({ insertOne: { document: { _id, value: 'v' } } })));
    expect(inserted.insertedCount).toBe(count);
    const deleted = await inTurn.bulkWrite(docs, [{ deleteOne: { filter: { _id: ids[0]! } } }, { deleteMany: { filter: { _id: { $in: ids.slice(1, 3) } } } }]);
    expect(deleted.deletedCount).toBe(3);

    const found = await byIds(docs, [ids[0]!, ids[3]!, ids[3]!, 'missing'], { projection: { _id: 1 } });
    expect([...found.keys()]).toEqual([ids[3]]);
    expect(found.get(ids[3]!)).toEqual({ _id: ids[3] });
    expect(await byIds(docs, [])).toEqual(new Map());
    expect(await findUpTo(docs, { value: 'v' }, 7)).toHaveLength(7);
  });

  it('groupedByIds: readers at once share a query; each gets its own ids', async () => {
    const seeded = await freshMongo('groupedread');
    await seeded.db.collection<Doc>('docs').insertMany(Array.from({ length: 30 }, (_, index) => ({ _id: `id-${index}`, value: `v${index}` })));
    const mongo = await connectMongo(testConfig().mongoUri, { dbName: seeded.db.databaseName, monitorCommands: true });
    cleanup(() => mongo.close());
    const finds: CommandStartedEvent[] = [];
    mongo.client.on('commandStarted', (event) => {
      if (event.commandName === 'find') finds.push(event);
    });
    const read = groupedByIds(mongo.db.collection<Doc>('docs'));

    // Readers at once: one query for them all.
    const answers = await Promise.all([['id-0', 'id-1'], ['id-2'], ['id-3', 'missing'], ['id-1', 'id-4'], []].map((ids) => read(ids)));
    expect(answers.map((found) => Object.fromEntries([...found].map(([id, doc]) => [id, doc.value])))).toEqual([
      { 'id-0': 'v0', 'id-1': 'v1' },
      { 'id-2': 'v2' },
      { 'id-3': 'v3' },
      { 'id-1': 'v1', 'id-4': 'v4' },
      {},
    ]);
    expect(finds).toHaveLength(1);
    // A lone reader: its own query, at once.
    expect([...(await read(['id-29'])).keys()]).toEqual(['id-29']);
    expect(finds).toHaveLength(2);
  });

  it('ensureIndexes creates what is missing once, and can run again', async () => {
    const mongo = await freshMongo('indexes');
    await ensureIndexes(mongo.db);
    await mongo.db.collection<{ _id: string; next: number }>('counters').updateOne({ _id: 'customerNumber' }, { $set: { next: 42 } });
    await ensureIndexes(mongo.db);
    expect((await mongo.db.collection<{ _id: string; next: number }>('counters').findOne({ _id: 'customerNumber' }))?.next).toBe(42);
    const indexNames = (await mongo.db.collection('profiles').listIndexes().toArray()).map((index) => index.name as string);
    expect(indexNames).toContain('expirationDate_1');
    expect(indexNames).toContain('mergingInto_1');
  });
});
