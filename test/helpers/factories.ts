import { randomBytes } from 'node:crypto';

/** A JSON command as a client would send it; override any part. */
export function commandJson(type: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { commandId: `cmd-${randomBytes(6).toString('hex')}`, type, organisationId: 1, payload, ...extra };
}

export const actor = { changedBy: 'agent-7', changedByChannel: 'web' };
export const creator = { createdBy: 'agent-7', createdByChannel: 'web' };

export const headers = { clientName: 'acme-ticketshop', correlationId: 'corr-1' };

/** An instant `seconds` after `from`, as ISO 8601. */
export const isoAfter = (from: Date, seconds: number) => new Date(from.getTime() + seconds * 1000).toISOString();
