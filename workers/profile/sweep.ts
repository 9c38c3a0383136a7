// The profile worker's periodic repairs, at start and then every minute: changes written but never
// relayed (a crash between write and relay is normally repaired sooner, by the redelivery of the
// uncommitted batch), topics not yet aligned, and merges interrupted after the permanent profile
// was written (their temporary profile is removed).
import type { Db } from 'mongodb';
import type { Logger } from '../../shared/logger.ts';
import { sweepOutbox, type OutboxSteps, type Relay } from '../../shared/outbox.ts';
import type { OwnTopics } from './ownTopics.ts';
import type { ProfileStore } from './store.ts';

/** Every minute: interrupted merges are found from an index of the few profiles being merged (mergingInto_1). */
export const sweepIntervalMs = 60_000;
/** A change younger than this may still be relayed by the process that wrote it. */
const sweepMinAgeMs = 60_000;

export function makeSweep(deps: { db: Db; store: ProfileStore; steps: OutboxSteps; relay: Relay; topics: OwnTopics; logger: Logger }) {
  const { store, logger } = deps;
  let sweeping: Promise<void> | null = null;
  /** One sweep at a time; a call during one joins it. */
  const run = () => {
    sweeping ??= (async () => {
      await sweepOutbox({ db: deps.db, steps: deps.steps, relay: deps.relay, findProfiles: (numbers) => store.findProfiles(numbers), logger, minAgeMs: sweepMinAgeMs });
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
