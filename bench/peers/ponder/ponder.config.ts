// The same question paywatch answers in the bench: every Transfer of the
// bench token, from block 0, into Postgres (DATABASE_URL). The RPC URL
// and the token address come from bench/bench.mjs.
import { createConfig } from "ponder";
import { http } from "viem";
import { erc20Abi } from "./abis/erc20";

export default createConfig({
  networks: {
    anvil: { chainId: 31337, transport: http(process.env.PONDER_RPC_URL_31337), maxRequestsPerSecond: 10_000 },
  },
  contracts: {
    Token: {
      network: "anvil",
      abi: erc20Abi,
      address: process.env.PONDER_TOKEN as `0x${string}`,
      startBlock: 0,
    },
  },
});
