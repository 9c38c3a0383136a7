// One batch of commands from one partition, in steps: each step loads what it decides on
// (load.ts), decides purely (decide.ts), writes (apply.ts) and relays what it owes (shared/outbox.ts).
// Every step is safe to repeat: a write that loses a race (WriteConflict) makes the step run
// again, and commands already applied are then recognised and answered, not applied twice.
import type { AvroCodec } from '../../shared/avro.ts';
import type { Batch, KafkaMessage } from '../../shared/kafka.ts';
import type { Logger } from '../../shared/logger.ts';
import { makeApplier } from './apply.ts';
import type { ValidationOptions } from './commands.ts';
import { decideBatch, decideMergeStep, type CommandItem, type Item } from './decide.ts';
import { makeLoader } from './load.ts';
import type { CommandOf, CommandResult } from './model.ts';
import { boundedLength, maxStep, prefixOf, prepare, suffixOf, type Prepared } from './prepare.ts';

import { WriteConflict, type ProfileStore } from './store.ts';
import { noTracing, randomTraceIds, type StepSpan, type StepTracing } from '../../shared/tracing.ts';
import { type CheckedResults, type LooseResult, type OutboxStore, type Relay } from '../../shared/outbox.ts';
import type { ProfileDoc } from '../../shared/customers/document.ts';

export { maxCommandsPerProfile } from './prepare.ts';

export type HandlerDeps = {
  store: ProfileStore;
  /** The outbox: what tells entries that went out, and the relay that sends what is owed. */
  outbox: OutboxStore;
  relay: Relay;
  codec: AvroCodec;
  logger: Logger;
  clock: () => Date;
  newUuid: () => string;
  /** @defaultValue 8 */
  maxAttempts?: number;
  /** Which organisations are served (ORGANISATION_IDS). @defaultValue every organisation */
  validation?: ValidationOptions;
  /** Spans of each window's decoding and each step's phases (shared/telemetry.ts). @defaultValue no spans */
  tracing?: StepTracing;
  /**
   * Called with each command's outcome once Kafka acknowledged it (metrics), and when the command
   * was sent (its Kafka timestamp, ms) if it came in this batch.
   */
  onResult?: (result: CommandResult, sentAt: number | undefined) => void;
  /**
   * Test hooks for fault injection: after the MongoDB writes of a step, after its produce (before
   * the results that mark its entries as gone out are stored: the relay calls it), after its relay.
   */
  hooks?: { afterWrite?: () => void | Promise<void>; afterProduce?: () => void | Promise<void>; afterPublish?: () => void | Promise<void> };
};

type Merge = CommandItem & { command: CommandOf<'MergeTemporaryProfile'> };
const isMerge = (item: Item): item is Merge => item.kind === 'command' && item.command.type === 'MergeTemporaryProfile';

/** Runs of ordinary commands (and answers to refused ones), each merge on its own in between. */
function segmentsOf(items: Item[]): ({ kind: 'run'; items: Item[] } | { kind: 'merge'; item: Merge })[] {
  const segments: ({ kind: 'run'; items: Item[] } | { kind: 'merge'; item: Merge })[] = [];
  for (const item of items) {
    const last = segments.at(-1);
    if (isMerge(item)) segments.push({ kind: 'merge', item });
    else if (last?.kind === 'run') last.items.push(item);
    else segments.push({ kind: 'run', items: [item] });
  }
  return segments;
}

/** When each command of a window was sent (its Kafka timestamp), by commandId. */
type SentAt = (commandId: string) => number | undefined;
function sentAtOf(window: readonly KafkaMessage[], prepared: Prepared): SentAt {
  const byId = new Map<string, number>();
  for (const item of prepared.items) {
    const commandId = item.kind === 'command' ? item.command.commandId : item.meta.commandId;
    const timestamp = Number(window[item.order]?.timestamp);
    if (commandId !== null && Number.isFinite(timestamp) && timestamp > 0) byId.set(commandId, timestamp);
  }
  return (commandId) => byId.get(commandId);
}

/** One document per profile, the last written: its pending list holds every earlier one's. */
const latestOf = (docs: ProfileDoc[]) => [...new Map(docs.map((doc) => [doc._id, doc])).values()];

export function makeCommandHandler(deps: HandlerDeps) {
  const { store, relay, logger, clock } = deps;
  const loader = makeLoader(store, deps.outbox, store.claimKey);
  const applier = makeApplier(store);
  const maxAttempts = deps.maxAttempts ?? 8;
  const tracing = deps.tracing ?? noTracing;
  const where = (batch: Batch, count: number) => ({ 'messaging.destination.name': batch.topic, 'messaging.destination.partition.id': String(batch.partition), 'messaging.batch.message_count': count });

  /** One step: its runs and merges decided and written in order, then relayed. */
  async function attempt(prepared: Prepared, now: Date, span: StepSpan, sentAt: SentAt): Promise<void> {
    const orderOf = new Map(prepared.items.map((item) => [item.kind === 'command' ? item.command.commandId : item.meta.commandId!, item.order]));
    const order = (commandId: string) => orderOf.get(commandId) ?? -1;
    const loose: LooseResult[] = [...prepared.loose];
    const relayed: ProfileDoc[] = [];
    // Claims given back after the runs' writes: on their way while the step goes on.
    const releases: Promise<void>[] = [];
    // Results looked for already: the relay need not read them again.
    const checkedIds = new Set<string>();
    const checkedResults = new Map<string, CommandResult>();
    const checked: CheckedResults = { ids: checkedIds, results: checkedResults };
    /** Tells `onResult` of the answers a relay sent: the loose ones, and those of the entries. */
    const answered = (results: LooseResult[], sent: CommandResult[]) => {
      for (const result of [...results.map((entry) => entry.result), ...sent]) deps.onResult?.(result, sentAt(result.commandId));
    };
    /** Sends what is owed so far (before a merge, which must see and order after it). */
    const publishSoFar = async () => {
      const results = loose.splice(0);
      answered(results, await span.phase('profile.relay', () => relay.publish({ profiles: latestOf(relayed.splice(0)), results, stored: checked, order })));
    };

    try {
      for (const segment of segmentsOf(prepared.items)) {
        if (segment.kind === 'run') {
          const loaded = await span.phase('profile.load', () => loader.load(segment.items));
          const decision = await span.phase('profile.decide', async () =>
            decideBatch(segment.items, loaded.snapshot, { now, numbers: loaded.numbers, uuid: deps.newUuid, claimKey: store.claimKey, traceIds: randomTraceIds }),
          );
          const { released } = await span.phase('profile.write', () => applier.apply(decision));
          releases.push(released);
          loose.push(...decision.results);
          relayed.push(...decision.relay);
          for (const id of loaded.checked.ids) checkedIds.add(id);
          for (const [id, result] of loaded.checked.results) checkedResults.set(id, result);
          continue;
        }
        // Relay what came before, so the merge sees (and orders after) it — the answers without an
        // effect too: decided again after the merge, they could come out otherwise (per-key order).
        await publishSoFar();
        await span.phase('profile.merge', () => mergeStep(segment.item, now, loose, relayed));
        // A refused merge has no write to ride in: it is fixed (stored and sent) before the commands
        // after it, which could change its answer if it were decided again after a crash.
        if (loose.length > 0) await publishSoFar();
      }
      await deps.hooks?.afterWrite?.();
      const sent = await span.phase('profile.relay', () => relay.publish({ profiles: latestOf(relayed), results: loose, dlq: prepared.dlq.map((entry) => entry.record), stored: checked, order }));
      await deps.hooks?.afterPublish?.();
      await Promise.all(releases);
      answered(loose, sent);
    } finally {
      // A step decided again (a lost race) starts once none of this attempt's writes is on its way.
      await Promise.allSettled(releases);
    }
  }

  /** A merge touches two profiles: a small resumable saga of single-document writes. */
  async function mergeStep(item: Merge, now: Date, loose: LooseResult[], relayed: ProfileDoc[]): Promise<void> {
    const snapshot = await loader.loadMerge(item);
    const step = decideMergeStep(item, snapshot, { now, traceIds: randomTraceIds });
    const permanentNumber = item.command.payload.permanentCustomerNumber;
    switch (step.kind) {
      case 'replayed':
        loose.push(step.result);
        if (snapshot.permanent?.pending.some((entry) => entry.commandId === item.command.commandId)) relayed.push(snapshot.permanent);
        if (step.finish) await applier.finishMerge(step.finish, step.finish.mergingInto!);
        if (step.unmark) await applier.unmark(step.unmark);
        return;
      case 'rejected':
        if (step.unmark) await applier.unmark(step.unmark);
        loose.push(step.result);
        return;
      case 'written':
        relayed.push(step.permanent);
        if (snapshot.temporary) await applier.finishMerge(snapshot.temporary, permanentNumber);
        return;
      case 'merge':
        await applier.markMerging(step);
        // 2. The temporary profile's own earlier events go out before its DELETED event.
        if (step.temporary.pending.length > 0) await relay.publish({ profiles: [step.temporary] });
        await applier.writeMerged(step);
        relayed.push(step.write.doc);
        await applier.finishMerge(step.temporary, permanentNumber);
        return;
      default: {
        const unreachable: never = step;
        throw new Error(`unhandled merge step ${JSON.stringify(unreachable)}`);
      }
    }
  }

  async function handleStep(batch: Batch, prepared: Prepared, now: Date, sentAt: SentAt): Promise<void> {
    await tracing.span('profile.step', where(batch, prepared.items.length), async (span) => {
      span.link(prepared.items.map((item) => item.trace));
      for (let attemptNumber = 1; ; attemptNumber++) {
        try {
          await attempt(prepared, now, span, sentAt);
          return;
        } catch (error) {
          if (!(error instanceof WriteConflict) || attemptNumber >= maxAttempts) throw error;
          logger.info({ topic: batch.topic, partition: batch.partition, attempt: attemptNumber, reason: error.message }, 'write conflict, deciding the step again');
        }
      }
    });
  }

  return {
    /** A batch is handled in steps of at most {@link maxStep} commands, each written and relayed before the next. */
    async handleBatch(batch: Batch, progress: (handledOffset?: string) => Promise<void> = async () => undefined, stopping: () => boolean = () => false): Promise<void | 'stopped'> {
      for (let start = 0; start < batch.messages.length; ) {
        // Decoded and validated once per window; handled in one step, or several when one profile
        // has more commands in it than a step takes.
        const window = batch.messages.slice(start, start + maxStep);
        const prepared = await tracing.span('profile.decode', where(batch, window.length), async (span) => {
          const decoded = await prepare({ ...batch, messages: window }, clock(), deps);
          span.link(decoded.items.map((item) => item.trace));
          return decoded;
        });
        const sentAt = sentAtOf(window, prepared);
        for (let done = 0; done < window.length; ) {
          // Stopping (SIGTERM, a rebalance): after the step in flight, not after a backlog's batch.
          if (start + done > 0 && stopping()) return 'stopped';
          const rest = done === 0 ? prepared : suffixOf(prepared, done);
          const length = boundedLength(rest.items, window.length - done);
          await handleStep(batch, length < window.length - done ? prefixOf(rest, length) : rest, clock(), sentAt);
          done += length;
          // Committed step by step, alive to the group coordinator while a backlog's batch takes its time.
          await progress(window[done - 1]!.offset);
        }
        start += window.length;
      }
    },
  };
}
