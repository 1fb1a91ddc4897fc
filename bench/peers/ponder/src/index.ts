import { ponder } from "ponder:registry";
import { transfer } from "ponder:schema";

ponder.on("Token:Transfer", async ({ event, context }) => {
  await context.db.insert(transfer).values({
    id: `${event.block.hash}:${event.log.logIndex}`,
    blockNumber: event.block.number,
    blockHash: event.block.hash,
    blockTime: event.block.timestamp,
    txHash: event.transaction.hash,
    logIndex: event.log.logIndex,
    from: event.args.from,
    to: event.args.to,
    amount: event.args.value,
  });
});
