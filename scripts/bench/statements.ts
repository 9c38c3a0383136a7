// What the suite asks of MongoDB, counted with the driver's command monitoring: statements by kind
// (`find profiles`, `update commands`) and the documents they carry — written (insert, update,
// delete) or returned (find) — per command. These transfer to any MongoDB, unlike the local
// server's CPU.
import type { CommandStartedEvent, CommandSucceededEvent, MongoClient } from 'mongodb';

export type StatementCount = { statements: number; documents: number };

export const documentsSent = (event: CommandStartedEvent): number => {
  const command = event.command as Record<string, unknown>;
  const list = command['documents'] ?? command['updates'] ?? command['deletes'];
  return Array.isArray(list) ? list.length : event.commandName === 'findAndModify' ? 1 : 0;
};

const documentsReturned = (event: CommandSucceededEvent): number => {
  const batch = (event.reply as { cursor?: { firstBatch?: unknown[]; nextBatch?: unknown[] } }).cursor;
  return (batch?.firstBatch ?? batch?.nextBatch ?? []).length;
};

/**
 * Counts the client's statements while on. The client must be connected with `monitorCommands`
 * (see shared/mongo/connect.ts).
 */
export function statementCounter(client: MongoClient) {
  let counts = new Map<string, StatementCount>();
  let on = false;
  const kindOf = new Map<number, string>();
  const add = (kind: string, statements: number, documents: number) => {
    const count = counts.get(kind) ?? { statements: 0, documents: 0 };
    counts.set(kind, { statements: count.statements + statements, documents: count.documents + documents });
  };
  client.on('commandStarted', (event) => {
    if (!on) return;
    const collection = String((event.command as Record<string, unknown>)[event.commandName] ?? '');
    const kind = `${event.commandName} ${collection}`.trim();
    add(kind, 1, documentsSent(event));
    if (event.commandName === 'find' || event.commandName === 'getMore') kindOf.set(event.requestId, kind);
  });
  client.on('commandSucceeded', (event) => {
    const kind = kindOf.get(event.requestId);
    if (kind === undefined) return;
    kindOf.delete(event.requestId);
    add(kind, 0, documentsReturned(event));
  });
  client.on('commandFailed', (event) => kindOf.delete(event.requestId));
  return {
    start(): void {
      counts = new Map();
      on = true;
    },
    /** Stops counting: per unit (command), by kind, busiest first, to three decimals. */
    stop(units: number): Record<string, StatementCount> {
      on = false;
      const per = (value: number) => Math.round((value / Math.max(units, 1)) * 1_000) / 1_000;
      const sorted = [...counts].sort(([, a], [, b]) => b.statements - a.statements);
      return Object.fromEntries(sorted.map(([kind, count]) => [kind, { statements: per(count.statements), documents: per(count.documents) }]));
    },
  };
}

/** Totals over kinds: statements and documents per command. */
export const totalOf = (byKind: Record<string, StatementCount>): StatementCount => {
  const round = (value: number) => Math.round(value * 1_000) / 1_000;
  const values = Object.values(byKind);
  return { statements: round(values.reduce((sum, count) => sum + count.statements, 0)), documents: round(values.reduce((sum, count) => sum + count.documents, 0)) };
};
