// Rebuilds an organisation's event topic from MongoDB, the source of truth (SPEC §2, §6): a lost,
// truncated or misconfigured topic is repaired by sending each live customer's latest event and,
// for each customer erased with a receipt, its DELETED event — with the eventId and version they
// had, so that subscribers that deduplicate see nothing new, and on a compacted topic each
// customer's latest record is what MongoDB holds. Safe while the suite runs: a customer that
// changed while it was being republished is sent again, and one erased meanwhile gets its DELETED
// event again after the snapshot this run sent, so the last record sent is never older than the
// suite's own.
//
//   npx profiles republish --org 1      (scripts/cli/republish.ts; `npm run republish -- …` is the same)
//
// Progress on stderr, a JSON summary on stdout. Exit 0 when done, 1 on failure, 2 on bad usage.
// The event types of republished snapshots are CREATED (version 1), DEACTIVATED (status D) or
// UPDATED: the snapshot is the original one, its type may be more general (a CONVERTED change
// comes back as UPDATED); a merged customer's DELETED event comes back without `mergedInto`.
import type { Db } from 'mongodb';
import type { AvroCodec, RegisteredType } from '../shared/avro.ts';
import type { Config } from '../shared/config.ts';
import { receiptKey, type ReceiptBase } from '../shared/erasureReceipts.ts';
import { ensureTopics, sendInChunks, type Producer } from '../shared/kafka.ts';
import { byIds } from '../shared/mongo/compat.ts';
import { eventTopicConfig } from '../shared/topicConfigs.ts';
import { topics } from '../shared/topics.ts';
import { changedEvent, deletedEvent } from '../shared/customers/events.ts';
import type { CustomerChanged, DeletionReason } from '../shared/customers/model.ts';
import type { Admin } from 'kafkajs';
import { toProfile, type ProfileDoc } from '../shared/customers/document.ts';

/** Customers per read and produce. */
const batchSize = 500;

/** The latest event of a live customer, as the suite sent it (same eventId and version). */
export function latestEventOf(doc: ProfileDoc, correlationId: string): CustomerChanged {
  const profile = toProfile(doc);
  const type = profile.status === 'D' ? 'DEACTIVATED' : profile.version === 1 ? 'CREATED' : 'UPDATED';
  return changedEvent(profile, type, { commandId: null, correlationId, actor: null }, profile.changedAt);
}

export type RepublishDeps = {
  db: Db;
  admin: Admin;
  producer: Producer;
  codec: AvroCodec;
  schema: RegisteredType;
  config: Pick<Config, 'env' | 'kafka' | 'retention'>;
  progress?: (done: { live: number; erased: number }) => void;
  /** Test hook: a batch of profiles was read and is about to be sent. */
  afterRead?: (customerNumbers: string[]) => Promise<void>;
  /** How long to wait for the receipt of a customer removed while it was republished. @defaultValue 120_000 */
  receiptWaitMs?: number;
};

export async function republish(deps: RepublishDeps, organisationId: number): Promise<{ topic: string; live: number; erased: number; again: number }> {
  const topic = topics(deps.config.env).customerChanged(organisationId);
  await ensureTopics(deps.admin, [{ topic, numPartitions: deps.config.kafka.eventPartitions, config: eventTopicConfig(deps.config.retention) }]);
  const correlationId = `republish-${organisationId}-${Date.now()}`;
  const send = (events: CustomerChanged[]) =>
    sendInChunks(deps.producer, [{ topic, messages: events.map((event) => ({ key: event.customerNumber, value: deps.codec.encode(deps.schema, event), headers: { 'X-Correlation-Id': correlationId } })) }]);
  const profiles = deps.db.collection<ProfileDoc>('profiles');
  const receipts = deps.db.collection<ReceiptBase>('erasureReceipts');
  const deletedOf = (receipt: ReceiptBase) =>
    deletedEvent({ organisationId, customerNumber: receipt.customerNumber, lastVersion: receipt.lastVersion }, receipt.reason as DeletionReason, { commandId: null, correlationId, actor: null }, receipt.completedAt);
  const counts = { live: 0, erased: 0, again: 0 };
  /** Sent as live, and gone when looked at again: erased (or merged) meanwhile. */
  const vanished = new Set<string>();

  let batch: ProfileDoc[] = [];
  const flush = async () => {
    let sent = batch.filter((doc) => !doc.mergingInto);
    batch = [];
    await deps.afterRead?.(sent.map((doc) => doc._id));
    await send(sent.map((doc) => latestEventOf(doc, correlationId)));
    counts.live += sent.length;
    // Changed meanwhile: the suite's own event may have gone out before this one; send the newer
    // state again, until nothing moved between the read and the send.
    for (let round = 0; round < 5 && sent.length > 0; round++) {
      const versions = new Map(sent.map((doc) => [doc._id, doc.version]));
      const now = [...(await byIds(profiles, versions.keys())).values()];
      for (const id of versions.keys()) if (!now.some((doc) => doc._id === id)) vanished.add(id);
      sent = now.filter((doc) => doc.version !== versions.get(doc._id) && !doc.mergingInto);
      if (sent.length > 0) await send(sent.map((doc) => latestEventOf(doc, correlationId)));
      counts.again += sent.length;
    }
    deps.progress?.({ live: counts.live, erased: counts.erased });
  };
  for await (const doc of profiles.find({ organisationId }, { batchSize })) {
    batch.push(doc);
    if (batch.length >= batchSize) await flush();
  }
  await flush();

  // DELETED events last, read after the profiles: a customer erased during the scan, whose old
  // snapshot this run may have sent after the suite's DELETED event, ends with DELETED again.
  const sentDeleted = new Set<string>();
  const sendReceipts = async (list: ReceiptBase[]) => {
    for (let start = 0; start < list.length; start += batchSize) {
      const slice = list.slice(start, start + batchSize);
      await send(slice.map(deletedOf));
      for (const receipt of slice) sentDeleted.add(receipt.customerNumber);
      counts.erased += slice.length;
      deps.progress?.({ live: counts.live, erased: counts.erased });
    }
  };
  await sendReceipts(await receipts.find({ organisationId }).toArray());
  // Removed while republished and not receipted yet: their erasure is under way; wait for it.
  const deadline = Date.now() + (deps.receiptWaitMs ?? 120_000);
  for (let waiting = [...vanished].filter((id) => !sentDeleted.has(id)); waiting.length > 0; waiting = waiting.filter((id) => !sentDeleted.has(id))) {
    if (Date.now() > deadline) throw new Error(`customers removed while republished, without an erasure receipt yet: ${waiting.slice(0, 20).join(', ')}; run it again once their erasure is complete`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await sendReceipts([...(await byIds(receipts, waiting.map((id) => receiptKey(organisationId, id)))).values()]);
  }
  return { topic, ...counts };
}
