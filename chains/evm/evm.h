/* evm.h: the EVM family (Ethereum and its kin): JSON-RPC over a websocket,
 * ERC-20 Transfer logs, EIP-55 addresses on input. */
#ifndef PW_EVM_H
#define PW_EVM_H

#include "chain.h"

/* The family, registered in chains/chain.c. */
extern const chain_family evm_chain_family;

/* Its adapter (evm.c). */
extern const chain_ops evm_chain_ops;

#endif
