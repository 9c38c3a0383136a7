import type { RunningWorker } from '../../shared/lifecycle.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Redis } from '../../shared/redis.ts';

export type SchedulerDeps = { redis: Redis; logger: Logger };

/**
 * The expiration scheduler (BullMQ): enforces the expirationDate of temporary and deactivated
 * profiles. Skeleton for now: it checks its Redis connection and reports ready.
 */
export async function startScheduler(deps: SchedulerDeps): Promise<RunningWorker> {
  await deps.redis.ping();
  deps.logger.info('scheduler ready');
  return { name: 'scheduler', isReady: () => deps.redis.status === 'ready', stop: async () => undefined };
}
