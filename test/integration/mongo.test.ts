import { describe, expect, it } from 'vitest';
import { MongoServerError } from 'mongodb';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { cleanup, freshMongo, testConfig } from '../helpers/services.ts';

describe('mongo adapter', () => {
  const config = testConfig();

  /** A database of its own for the test, dropped after it. */
  const freshDatabase = async (prefix: string) => (await freshMongo(prefix)).db;

  it('writes, reads, and enforces a unique index', async () => {
    const db = await freshDatabase('smoke');
    const profiles = db.collection<{ organisationId: number; customerNumber: string; version: number }>('profiles');
    await profiles.createIndex({ organisationId: 1, customerNumber: 1 }, { unique: true });

    await profiles.insertOne({ organisationId: 1, customerNumber: '1001', version: 1 });
    const updated = await profiles.findOneAndUpdate(
      { organisationId: 1, customerNumber: '1001', version: 1 },
      { $inc: { version: 1 } },
      { returnDocument: 'after' },
    );
    expect(updated?.version).toBe(2);

    const duplicate = profiles.insertOne({ organisationId: 1, customerNumber: '1001', version: 1 });
    await expect(duplicate).rejects.toBeInstanceOf(MongoServerError);
    await expect(duplicate).rejects.toMatchObject({ code: 11000 });
    // The same number in another organisation is another key.
    await profiles.insertOne({ organisationId: 2, customerNumber: '1001', version: 1 });
    expect(await profiles.countDocuments({ customerNumber: '1001' })).toBe(2);
  });

  // The local FerretDB decodes what it stored with a one-pass splitter for the shape it writes and
  // falls back to its old decoder otherwise (scripts/stack's patch); either way, a document reads
  // back as written.
  it('a document reads back as written: every kind of value, nested (no arrays in arrays: FerretDB v1 refuses them), and strings that need escaping', async () => {
    const db = await freshDatabase('roundtrip');
    const docs = db.collection<Record<string, unknown> & { _id: string }>('docs');
    const strings = ['', 'plain', 'quote " and backslash \\', 'tab\tnewline\n', '<b>&amp;</b>', 'ünïcødé ✓ 日本', '\u0001\u001f', 'emoji 🚆', '{"looks":"like json"}', '[1,2]'];
    const doc = {
      _id: 'all-kinds',
      strings,
      int: 42,
      negative: -7,
      long: 2 ** 40,
      double: 1.5,
      big: 1e300,
      small: -2.5e-300,
      yes: true,
      no: false,
      nothing: null,
      when: new Date('2026-12-04T05:00:00.123Z'),
      empty: {},
      emptyList: [],
      nested: { a: { b: [1, 'two', { three: [null, true] }] }, 'key with spaces': 'v', 'ünïcødé': 1 },
      list: [{}, { x: '' }, { inner: strings }, 'a', 1, null],
    };
    await docs.insertOne(doc);
    await docs.insertMany(strings.map((value, index) => ({ _id: `s${index}`, value })));

    expect(await docs.findOne({ _id: 'all-kinds' })).toEqual(doc);
    expect(await docs.find({ _id: { $in: ['all-kinds'] } }, { projection: { strings: 1, nested: 1 } }).toArray()).toEqual([{ _id: 'all-kinds', strings, nested: doc.nested }]);
    const read = await docs.find({ _id: { $ne: 'all-kinds' } }).sort({ _id: 1 }).toArray();
    expect(read.map((entry) => entry['value'])).toEqual([...strings.keys()].sort((a, b) => `s${a}`.localeCompare(`s${b}`)).map((index) => strings[index]));
  });

  // The reconciliation's query. The local FerretDB answers it from SQLite (scripts/stack's patch
  // pushes string ranges down); the answer must be MongoDB's whatever the field holds.
  it('a string range filter matches exactly the strings in range, and arrays with one', async () => {
    const db = await freshDatabase('range');
    const docs = db.collection<{ _id: string; expirationDate?: unknown }>('docs');
    await docs.insertMany([
      { _id: 'early', expirationDate: '2026-01-01T00:00:00.000Z' },
      { _id: 'bound', expirationDate: '2026-06-01T00:00:00.000Z' },
      { _id: 'late', expirationDate: '2027-01-01T00:00:00.000Z' },
      { _id: 'null', expirationDate: null },
      { _id: 'missing' },
      { _id: 'number', expirationDate: 5 },
      { _id: 'array-in', expirationDate: ['2030-01-01', '2025-01-01'] },
      { _id: 'array-out', expirationDate: ['2030-01-01'] },
      { _id: 'quote', expirationDate: '2026-"quoted"' },
      { _id: 'unicode', expirationDate: '2026-æøå' },
    ]);
    const ids = async (filter: object) => (await docs.find(filter).toArray()).map((doc) => doc._id).sort();
    expect(await ids({ expirationDate: { $ne: null, $lte: '2026-06-01T00:00:00.000Z' } })).toEqual(['array-in', 'bound', 'early', 'quote']);
    expect(await ids({ expirationDate: { $lt: '2026-06-01T00:00:00.000Z' } })).toEqual(['array-in', 'early', 'quote']);
    expect(await ids({ expirationDate: { $gt: '2026-06-01T00:00:00.000Z', $lt: '2030' } })).toEqual(['array-in', 'late', 'unicode']);
    expect(await ids({ expirationDate: { $gte: '2026-æ' } })).toEqual(['array-in', 'array-out', 'late', 'unicode']);
  });

  // The deletion worker's and the claim sweep's queries, pushed down the same way — answered from
  // an index on the field where there is one (the claims' customerNumber).
  it.each([false, true])('string equality, $in and null filters match what MongoDB matches (indexed: %s)', async (indexed) => {
    const db = await freshDatabase('equal');
    const docs = db.collection<{ _id: string; value?: unknown }>('docs');
    if (indexed) await docs.createIndex({ value: 1 });
    await docs.insertMany([
      { _id: 'a', value: 'a' },
      { _id: 'b', value: 'b' },
      { _id: 'null', value: null },
      { _id: 'missing' },
      { _id: 'number', value: 1 },
      { _id: 'text-number', value: '1' },
      { _id: 'object', value: { a: 'a' } },
      { _id: 'array', value: ['a', null] },
      { _id: 'nested', value: [{ b: 'b' }] },
      { _id: 'quote', value: 'a"b' },
      { _id: 'html', value: 'a<b&c' },
      { _id: 'unicode', value: 'æ' },
    ]);
    const ids = async (filter: object) => (await docs.find(filter).toArray()).map((doc) => doc._id).sort();
    expect(await ids({ value: 'a' })).toEqual(['a', 'array']);
    expect(await ids({ value: { $eq: 'b' } })).toEqual(['b']);
    expect(await ids({ value: '1' })).toEqual(['text-number']);
    expect(await ids({ value: null })).toEqual(['array', 'missing', 'null']);
    expect(await ids({ value: { $in: ['a', 'b'] } })).toEqual(['a', 'array', 'b']);
    expect(await ids({ value: { $in: ['a"b', 'a<b&c', 'æ', 'b'] } })).toEqual(['b', 'html', 'quote', 'unicode']);
    expect(await ids({ value: 'a', _id: { $in: ['a', 'b'] } })).toEqual(['a']);
    // The profile worker's sweep: the few profiles being merged, found without decoding the rest.
    expect(await ids({ value: { $exists: true } })).toEqual(['a', 'array', 'b', 'html', 'nested', 'null', 'number', 'object', 'quote', 'text-number', 'unicode']);
    expect(await ids({ value: { $exists: false } })).toEqual(['missing']);
    expect((await docs.deleteMany({ value: { $in: ['b', 'c'] } })).deletedCount).toBe(1);
    expect(await ids({})).toEqual(['a', 'array', 'html', 'missing', 'nested', 'null', 'number', 'object', 'quote', 'text-number', 'unicode']);
  });

  // The profile worker reads by long `_id: {$in}` lists (the patch matches them from a set).
  it('_id $in with many strings matches exactly those ids, with or without other conditions', async () => {
    const db = await freshDatabase('idin');
    const docs = db.collection<{ _id: string | number; value: string }>('docs');
    await docs.insertMany([...Array.from({ length: 40 }, (_, i) => ({ _id: `id-${i}`, value: i % 2 === 0 ? 'even' : 'odd' })), { _id: 7, value: 'number' }]);
    const wanted = [...Array.from({ length: 30 }, (_, i) => `id-${i + 20}`), '7', 'absent'];
    const ids = async (filter: object) => (await docs.find(filter).toArray()).map((doc) => String(doc._id)).sort();
    const expected = Array.from({ length: 20 }, (_, i) => `id-${i + 20}`).sort();
    expect(await ids({ _id: { $in: wanted } })).toEqual(expected);
    expect(await ids({ _id: { $in: wanted }, value: 'even' })).toEqual(expected.filter((id) => Number(id.slice(3)) % 2 === 0));
    expect((await docs.deleteMany({ _id: { $in: wanted } })).deletedCount).toBe(20);
    expect(await docs.countDocuments()).toBe(21);
  });

  it('a version-guarded delete by _id deletes what MongoDB matches: the version, also inside an array or as a double, nothing else', async () => {
    const db = await freshDatabase('gdel');
    const docs = db.collection<{ _id: string; version?: unknown; owner?: string }>('docs');
    await docs.insertMany([
      ...Array.from({ length: 20 }, (_, i) => ({ _id: `v1-${i}`, version: 1, owner: 'a' })),
      { _id: 'v2', version: 2, owner: 'a' },
      { _id: 'array', version: [0, 1] },
      { _id: 'double', version: 1.0 },
      { _id: 'text', version: '1' },
      { _id: 'missing' },
      { _id: 'other-owner', version: 1, owner: 'b' },
    ]);
    const all = [...Array.from({ length: 20 }, (_, i) => `v1-${i}`), 'v2', 'array', 'double', 'text', 'missing', 'absent'];
    expect((await docs.deleteMany({ _id: { $in: all }, version: 1 })).deletedCount).toBe(22);
    expect((await docs.find({}).toArray()).map((doc) => doc._id).sort()).toEqual(['missing', 'other-owner', 'text', 'v2']);
    expect((await docs.deleteMany({ _id: { $in: ['v2', 'other-owner'] }, version: 1, owner: 'a' })).deletedCount).toBe(0);
    expect((await docs.deleteOne({ _id: 'other-owner', version: 1, owner: 'b' })).deletedCount).toBe(1);
    expect((await docs.deleteOne({ _id: 'text', version: '1' })).deletedCount).toBe(1);
    expect((await docs.find({}).toArray()).map((doc) => doc._id).sort()).toEqual(['missing', 'v2']);
  });

  // The patch runs one update or delete command in one transaction: each statement sees the ones
  // before it, an ordered bulk stops at a failed statement with those before it applied, and a
  // guarded replace is atomic, so two writers of one version never both win.
  it('a bulk of updates applies in order, stops at a failure with what came before kept, and a version guard admits one writer', async () => {
    const db = await freshDatabase('bulk');
    const docs = db.collection<{ _id: string; version: number; email: string; flag?: boolean }>('docs');
    await docs.createIndex({ email: 1 }, { unique: true });
    await docs.insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `d${i}`, version: 1, email: `e${i}` })));

    const chained = await docs.bulkWrite([
      { updateOne: { filter: { _id: 'd0' }, update: { $inc: { version: 1 } } } },
      { updateOne: { filter: { _id: 'd0', version: 2 }, update: { $set: { flag: true } } } },
    ]);
    expect(chained.matchedCount).toBe(2);
    expect(await docs.findOne({ _id: 'd0' })).toMatchObject({ version: 2, flag: true });

    const failing = docs.bulkWrite([
      { replaceOne: { filter: { _id: 'd1' }, replacement: { version: 2, email: 'e1-new' } } },
      { replaceOne: { filter: { _id: 'd2' }, replacement: { version: 2, email: 'e3' } } },
      { replaceOne: { filter: { _id: 'd4' }, replacement: { version: 2, email: 'e4-new' } } },
    ]);
    await expect(failing).rejects.toMatchObject({ code: 11000 });
    expect((await docs.find({ _id: { $in: ['d1', 'd2', 'd4'] } }).sort({ _id: 1 }).toArray()).map((doc) => doc.email)).toEqual(['e1-new', 'e2', 'e4']);

    // A guard is matched as MongoDB matches it, whatever the stored value (an array holding it too).
    await docs.insertMany([
      { _id: 'g-array', version: [1, 5] as unknown as number, email: 'g-array' },
      { _id: 'g-double', version: 1.5, email: 'g-double' },
    ]);
    const guarded = await docs.bulkWrite(
      [
        { replaceOne: { filter: { _id: 'g-array', version: 1 }, replacement: { version: 2, email: 'g-array' } } },
        { replaceOne: { filter: { _id: 'g-double', version: 1 }, replacement: { version: 2, email: 'g-double' } } },
        { replaceOne: { filter: { _id: 'd0', email: 'e0' }, replacement: { version: 3, email: 'e0' } } },
        { replaceOne: { filter: { _id: 'd0', version: 3, email: 'e0' }, replacement: { version: 4, email: 'e0-new' } } },
        { replaceOne: { filter: { _id: 'absent', version: 1 }, replacement: { version: 2, email: 'absent' } } },
      ],
      { ordered: true },
    );
    expect([guarded.matchedCount, guarded.modifiedCount]).toEqual([3, 3]);
    expect(await docs.find({ _id: { $in: ['g-array', 'g-double', 'd0', 'absent'] } }).sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'd0', version: 4, email: 'e0-new' },
      { _id: 'g-array', version: 2, email: 'g-array' },
      { _id: 'g-double', version: 1.5, email: 'g-double' },
    ]);

    // Two connections replace the same 48 documents at version 1, each in bulks of 8.
    const other = await connectMongo(config.mongoUri, { dbName: db.databaseName });
    cleanup(() => other.close());
    const ids = Array.from({ length: 48 }, (_, i) => `d${i + 2}`).filter((id) => id !== 'd2' && id !== 'd4');
    const writer = async (collection: typeof docs, name: string) => {
      let won = 0;
      for (let start = 0; start < ids.length; start += 8) {
        const result = await collection.bulkWrite(
          ids.slice(start, start + 8).map((id) => ({ replaceOne: { filter: { _id: id, version: 1 }, replacement: { version: 2, email: `${id}-${name}` } } })),
          { ordered: false },
        );
        won += result.matchedCount;
      }
      return won;
    };
    const [a, b] = await Promise.all([writer(docs, 'a'), writer(other.db.collection('docs'), 'b')]);
    expect(a + b).toBe(ids.length);
    const written = await docs.find({ _id: { $in: ids } }).toArray();
    expect(written.every((doc) => doc.version === 2)).toBe(true);
  });
});

