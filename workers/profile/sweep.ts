// The profile worker's periodic repairs, at start and then every minute: changes an older version
// wrote and never relayed (its relay steps; this version's are relayed by the redelivery of the
// uncommitted batch), topics not yet aligned, and merges interrupted after the permanent profile
// was written (their temporary profile is removed).
import type { Logger } from '../../shared/logger.ts';
import { sweepLegacySteps, type OutboxStore, type Relay } from '../../shared/outbox.ts';
import type { OwnTopics } from './ownTopics.ts';
import type { ProfileStore } from './store.ts';

/** Every minute: interrupted merges are found from an index of the few profiles being merged (mergingInto_1). */
export const sweepIntervalMs = 60_000;
/** A change younger than this may still be relayed by the process that wrote it. */
const sweepMinAgeMs = 60_000;

export function makeSweep(deps: { store: ProfileStore; outbox: OutboxStore; relay: Relay; topics: OwnTopics; logger: Logger }) {
  const { store, logger } = deps;
  let sweeping: Promise<void> | null = null;
  /** One sweep at a time; a call during one joins it. */
  const run = () => {
    sweeping ??= (async () => {
      await sweepLegacySteps({ outbox: deps.outbox, relay: deps.relay, findProfiles: (numbers) => store.findProfiles(numbers), logger, minAgeMs: sweepMinAgeMs });
      await deps.topics.alignAgain();
      for (const temporary of await store.findMerging(100)) await store.finishMerge(temporary, temporary.mergingInto!);
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'relay sweep failed'))
      .finally(() => {
        sweeping = null;
      });
    return sweeping;
  };
  /** The sweep in flight, if any (awaited on stop). */
  const idle = async () => {
    await sweeping;
  };
  return { run, idle };
}
