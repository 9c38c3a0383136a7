// Deprecated: the old home of the MongoDB adapter, kept for the profile worker's imports until it
// moves to shared/mongo/ (connect.ts, compat.ts). Use those in new code.
import type { Db } from 'mongodb';
import { writesOf, type WriteTurn } from './mongo/compat.ts';

export { connectMongo, type Mongo } from './mongo/connect.ts';
export { byIds } from './mongo/compat.ts';

/**
 * The write turn of the connection `db` belongs to: the same one as its `Mongo`'s `writes.turn`.
 * @deprecated Use `mongo.writes` (shared/mongo/compat.ts).
 */
export function serialWrites(db: Db): WriteTurn {
  return writesOf(db.client).turn;
}
