import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Mongo } from '../../shared/mongo.ts';
import type { Redis } from '../../shared/redis.ts';

export type DeletionWorkerDeps = { mongo: Mongo; redis: Redis; logger: Logger };

/**
 * The deletion worker: erases deactivated and expired customers with all their connected data.
 * Skeleton for now: it checks its connections and reports ready.
 */
export async function startDeletionWorker(deps: DeletionWorkerDeps): Promise<RunningWorker> {
  await deps.mongo.db.command({ ping: 1 });
  await deps.redis.ping();
  deps.logger.info('deletion worker ready');
  return { name: 'deletion', isReady: () => true, stop: async () => undefined };
}
