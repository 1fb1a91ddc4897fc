/* evm_int.h: EVM adapter internals shared with its tests and fuzz target:
 * the request bookkeeping and the answer -> event step, reachable without
 * a socket. Not part of the adapter interface (chains/chain.h). */
#ifndef PW_EVM_INT_H
#define PW_EVM_INT_H

#include "chain.h"
#include "jsonrpc.h"

enum req_kind { REQ_TRANSFERS, REQ_HEADERS, REQ_NUMBER, REQ_TAG };

/* evm_adapter_create_detached: an adapter with no connection (free with
 * evm_chain_ops.close). NULL on out of memory. */
chain_adapter *evm_adapter_create_detached(uint32_t timeout_ms);

/* evm_track: record a request in flight: ids [first_id, first_id + n_ids),
 * for blocks [from, to] (transfers). 0 or PW_ENOMEM. */
int evm_track(chain_adapter *a, uint64_t first_id, size_t n_ids, enum req_kind kind, uint64_t from, uint64_t to);

/* evm_message_to_event: turn one inbound message into an event answering
 * a tracked request or a subscription. false when it answers nothing
 * tracked (ev untouched beyond zeroing); true with *ev to release with
 * chain_event_done. */
bool evm_message_to_event(chain_adapter *a, rpc_message *m, chain_event *ev);

#endif
