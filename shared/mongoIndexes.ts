// Deprecated: moved to shared/mongo/indexes.ts; kept for the profile worker's import until it moves.
export { ensureIndexes } from './mongo/indexes.ts';
