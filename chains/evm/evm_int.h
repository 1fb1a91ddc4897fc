/* evm_int.h: EVM adapter internals shared with its tests and fuzz target:
 * the request bookkeeping and the answer -> event step, reachable without
 * a socket. Not part of the adapter interface (chains/chain.h). */
#ifndef PW_EVM_INT_H
#define PW_EVM_INT_H

#include "chain.h"
#include "jsonrpc.h"

/* What a request in flight asks for. REQ_HEAD_POLL and REQ_HEAD_HEADER are
 * the adapter's own over HTTP (no newHeads subscription): eth_blockNumber
 * every poll interval, then the new head's header, answered to the caller
 * as CHAIN_EV_HEAD. */
enum req_kind { REQ_TRANSFERS, REQ_HEADERS, REQ_NUMBER, REQ_TAG, REQ_HEAD_POLL, REQ_HEAD_HEADER };

/* evm_adapter_create_detached: an adapter with no connection (free with
 * evm_chain_ops.close). NULL on out of memory. */
chain_adapter *evm_adapter_create_detached(uint32_t timeout_ms);

/* evm_track: record a request in flight: ids [first_id, first_id + n_ids),
 * for blocks [from, to] (transfers). 0 or PW_ENOMEM. */
int evm_track(chain_adapter *a, uint64_t first_id, size_t n_ids, enum req_kind kind, uint64_t from, uint64_t to);

/* evm_message_to_event: turn one inbound message into an event answering
 * a tracked request or a subscription. false when it answers nothing
 * tracked, or a request of the adapter's own (ev untouched beyond
 * zeroing); true with *ev to release with chain_event_done. */
bool evm_message_to_event(chain_adapter *a, rpc_message *m, chain_event *ev);

/* evm_error_kind: how a node's error for a request is read (code, message
 * text, the HTTP status or 0): a range to make smaller (range wording wins:
 * Infura's and java-tron's -32005 "query returned more than 10000
 * results", java-tron's -32602 "exceed max block range: 5000", HTTP 413),
 * or a rate limit to wait out (HTTP 429, -32029, or rate wording such as
 * -32005 "limit exceeded ... rate"), or neither. */
enum evm_error_kind { EVM_ERR_OTHER, EVM_ERR_RANGE, EVM_ERR_RATE };
enum evm_error_kind evm_error_kind(int code, const char *text, long http_status);

/* evm_error_backoff_s: the wait a node's rate-limit error object asks for
 * in its data, in seconds, rounded up, at most RPC_RETRY_AFTER_MAX_S; 0
 * when it names none. Infura's -32005 carries data.rate.backoff_seconds
 * (data.backoff_seconds in its older form), a number that may be
 * fractional or 0 (Infura's rate-limit documentation, quoted in
 * MetaMask/eth-json-rpc-infura#33; bodies in ethers.js #640, ethers-rs
 * #1711 and INFURA/infura#201). It is the websocket's Retry-After: a
 * JSON-RPC answer has no header. Anything but a positive number is none. */
uint32_t evm_error_backoff_s(const cJSON *error);

#endif
