// The DELETED events of the erasures running at once go out in one produce (group commit), through
// the suite's one publisher of CustomerChanged events (each organisation's topic, created on first use).
import { combine } from '../../shared/combine.ts';
import type { CustomerChanged } from '../../shared/customers/model.ts';
import type { EventPublisher } from '../../shared/customers/publisher.ts';
import { sendInChunks, type Producer } from '../../shared/kafka.ts';

/** Publishes one DELETED event; resolves once the broker acknowledged the produce it went out in. */
export function makeDeletedPublisher(deps: { events: EventPublisher; producer: Producer }): (event: CustomerChanged) => Promise<void> {
  return combine<CustomerChanged, void>(
    async (events) => {
      await sendInChunks(deps.producer, await deps.events.topicMessages(events));
      return events.map(() => undefined);
    },
    { max: 500 },
  );
}
