// One row per Transfer log, with the columns paywatch stores for a payment.
import { onchainTable } from "ponder";

export const transfer = onchainTable("transfer", (t) => ({
  id: t.text().primaryKey(), // block hash + log index
  blockNumber: t.bigint().notNull(),
  blockHash: t.hex().notNull(),
  blockTime: t.bigint().notNull(),
  txHash: t.hex().notNull(),
  logIndex: t.integer().notNull(),
  from: t.hex().notNull(),
  to: t.hex().notNull(),
  amount: t.bigint().notNull(),
}));
