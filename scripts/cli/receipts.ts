// `profiles receipts`: an organisation's erasure receipts (shared/erasureReceipts.ts), one JSON line
// each, oldest completion first. Receipts hold no personal data: ids, reason, dates and steps.
import type { Filter } from 'mongodb';
import { receiptKey, type ReceiptBase } from '../../shared/erasureReceipts.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { loadCliConfig, printLine } from './session.ts';

export type ReceiptsOptions = {
  organisationId: number;
  /** Only this customer's receipt. */
  customer?: string;
  /** Only erasures completed at or after this time. */
  since?: Date;
};

/** The query: by `_id` for one customer (the only lookup FerretDB answers from its index), else by organisation. */
export function receiptFilter(options: ReceiptsOptions): Filter<ReceiptBase> {
  return {
    ...(options.customer !== undefined ? { _id: receiptKey(options.organisationId, options.customer) } : { organisationId: options.organisationId }),
    // ISO 8601 instants in UTC, all written by toISOString: their order is the order of the texts.
    ...(options.since ? { completedAt: { $gte: options.since.toISOString() } } : {}),
  };
}

export async function listReceipts(options: ReceiptsOptions): Promise<void> {
  const config = loadCliConfig();
  const mongo = await connectMongo(config.mongoUri, { appName: 'profiles-cli' });
  try {
    const receipts = mongo.db.collection<ReceiptBase>('erasureReceipts').find(receiptFilter(options)).sort({ completedAt: 1 });
    for await (const { _id: _key, ...receipt } of receipts) printLine(receipt);
  } finally {
    await mongo.close();
  }
}
