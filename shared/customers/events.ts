// The CustomerChanged events (SPEC §5), built the same way wherever a change or an erasure
// happens: the profile worker, the deletion worker, republish.
import type { Actor, CustomerChanged, DeletionReason, EventType, Profile } from './model.ts';

/** The event types of a change to a live profile (DELETED is an erasure's or a merge's). */
export type ChangeType = Exclude<EventType, 'DELETED'>;

/** Stable across redeliveries: one id per customer and version. */
export const eventIdOf = (organisationId: number, customerNumber: string, version: number) => `${organisationId}-${customerNumber}-${version}`;

export type EventCause = { commandId: string | null; correlationId: string | null; actor: Actor | null };

/** A profile as events show it: without internal fields. */
export function publicProfile({ ownExpirationDate: _internal, ...profile }: Profile): Profile {
  return profile;
}

/** The event of a change: the full profile after it. */
export function changedEvent(profile: Profile, eventType: ChangeType, cause: EventCause, now: string): CustomerChanged {
  return {
    eventId: eventIdOf(profile.organisationId, profile.customerNumber, profile.version),
    eventType,
    reason: null,
    organisationId: profile.organisationId,
    customerNumber: profile.customerNumber,
    version: profile.version,
    occurredAt: now,
    changedBy: cause.actor?.by ?? profile.changedBy,
    changedByChannel: cause.actor?.channel ?? profile.changedByChannel,
    commandId: cause.commandId,
    correlationId: cause.correlationId,
    mergedInto: null,
    profile: publicProfile(profile),
  };
}

/** The event of an erasure: ids only, no personal data at all. Its version follows the profile's last. */
export function deletedEvent(
  target: { organisationId: number; customerNumber: string; lastVersion: number },
  reason: DeletionReason,
  cause: EventCause & { mergedInto?: string },
  now: string,
): CustomerChanged {
  const version = target.lastVersion + 1;
  return {
    eventId: eventIdOf(target.organisationId, target.customerNumber, version),
    eventType: 'DELETED',
    reason,
    organisationId: target.organisationId,
    customerNumber: target.customerNumber,
    version,
    occurredAt: now,
    changedBy: cause.actor?.by ?? null,
    changedByChannel: cause.actor?.channel ?? null,
    commandId: cause.commandId,
    correlationId: cause.correlationId,
    mergedInto: cause.mergedInto ?? null,
    profile: null,
  };
}
