/* tron.h: the Tron family: TRC-20 Transfer logs read through java-tron's
 * Ethereum-compatible JSON-RPC (a full node's /jsonrpc on port 8545, or
 * TronGrid's https://api.trongrid.io/jsonrpc), over HTTP only (java-tron
 * serves no websocket and no eth_subscribe); addresses are written
 * Base58Check "T..." (0x41 + the 20 bytes its logs carry). */
#ifndef PW_TRON_H
#define PW_TRON_H

#include "chain.h"

/* The family, registered in chains/chain.c. */
extern const chain_family tron_chain_family;

/* java-tron's default jsonrpc.maxBlockRange: eth_getLogs refuses a range
 * with to - from > 5000 ("exceed max block range: 5000", -32602). */
#define TRON_MAX_BLOCK_RANGE 5000

#endif
