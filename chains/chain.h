/* chain.h: the interface a chain family implements (EVM now; Tron, Solana
 * later), as a table of function pointers. The tracker above it is the same
 * for every chain. Requests are asynchronous so several can be in flight:
 * request_* returns a request id, poll() yields events that answer them.
 * Thread safety: an adapter belongs to one ingest thread. */
#ifndef PW_CHAIN_H
#define PW_CHAIN_H

#include "payment.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One token transfer seen on chain (an ERC-20 Transfer log for EVM). */
typedef struct chain_transfer {
	uint64_t block_number;
	uint8_t block_hash[PW_HASH_LEN];
	int64_t block_time; /* unix seconds, or -1 when the log did not carry it */
	uint8_t tx_hash[PW_HASH_LEN];
	uint32_t log_index;
	uint8_t token[PW_ADDR_LEN];
	uint8_t from[PW_ADDR_LEN];
	uint8_t to[PW_ADDR_LEN];
	uint8_t amount[PW_U256_LEN]; /* base units, big-endian */
} chain_transfer;

/* What an adapter needs to know; strings are borrowed for its lifetime. */
typedef struct chain_params {
	const char *name;
	const char *url;
	uint64_t chain_id;
	const uint8_t (*tokens)[PW_ADDR_LEN]; /* watched token contracts */
	size_t n_tokens;
	size_t max_message_bytes;
	uint32_t request_timeout_ms;
} chain_params;

enum chain_event_kind {
	CHAIN_EV_TRANSFERS, /* answer to request_transfers */
	CHAIN_EV_HEADERS,   /* answer to request_headers (in the order asked) */
	CHAIN_EV_HEAD,      /* a new head from the live subscription (headers[0]) */
	CHAIN_EV_NUMBER,    /* answer to request_head_number or request_tag_number */
	CHAIN_EV_ERROR,     /* a request failed (req set) or the connection did (req 0) */
};

typedef struct chain_event {
	enum chain_event_kind kind;
	uint64_t req;
	int error;              /* CHAIN_EV_ERROR: PW_ETOOBIG, PW_ERPC, PW_EPARSE, PW_ETIMEDOUT, PW_ECONN */
	bool range_too_large;   /* CHAIN_EV_ERROR: the node refused the range as too large */
	bool rate_limited;      /* CHAIN_EV_ERROR: the node asked us to slow down (429, -32005 "rate") */
	char detail[256];       /* CHAIN_EV_ERROR: node message or parse detail, no secrets */
	chain_transfer *transfers; /* CHAIN_EV_TRANSFERS; owned by the event */
	size_t n_transfers;
	size_t n_logs;          /* logs in the answer, payments or not */
	pw_block_ref *headers;  /* CHAIN_EV_HEADERS / CHAIN_EV_HEAD; owned by the event */
	size_t n_headers;
	uint64_t number;        /* CHAIN_EV_NUMBER */
} chain_event;

typedef struct chain_adapter chain_adapter;

typedef struct chain_ops {
	const char *kind;
	/* connect: open params->url, verify the chain id (PW_ECHAINID on a
	 * mismatch, detail in err), subscribe to new heads. Blocks up to
	 * timeout_ms. 0 with *ret, or PW_ECONN / PW_ETIMEDOUT / PW_ERPC. */
	int (*connect)(const chain_params *params, int timeout_ms, chain_adapter **ret, char *err,
		       size_t errlen);
	/* close: free the adapter; accepts NULL. */
	void (*close)(chain_adapter *a);
	/* request_transfers: transfers of the watched tokens in blocks
	 * [from, to] (block numbers, inclusive). */
	int (*request_transfers)(chain_adapter *a, uint64_t from, uint64_t to, uint64_t *ret_req);
	/* request_headers: the canonical headers of n block numbers. */
	int (*request_headers)(chain_adapter *a, const uint64_t *numbers, size_t n, uint64_t *ret_req);
	/* request_head_number: the node's latest block number. */
	int (*request_head_number)(chain_adapter *a, uint64_t *ret_req);
	/* request_tag_number: the number of the block the node calls `tag`
	 * ("finalized", "safe"); CHAIN_EV_NUMBER, or CHAIN_EV_ERROR with
	 * PW_ENOTFOUND when the node has none yet. */
	int (*request_tag_number)(chain_adapter *a, const char *tag, uint64_t *ret_req);
	/* poll: wait up to timeout_ms for one event. 0 with *ret (release
	 * with chain_event_done), PW_ETIMEDOUT, or PW_ECONN (connection lost:
	 * all requests in flight are gone; close and reconnect). */
	int (*poll)(chain_adapter *a, int timeout_ms, chain_event *ret);
	/* endpoint: the masked URL in use, for logs. */
	const char *(*endpoint)(const chain_adapter *a);
} chain_ops;

/* chain_event_done: free what an event owns. */
void chain_event_done(chain_event *ev);

/* The EVM family (chains/evm/evm.c). */
extern const chain_ops evm_chain_ops;

#endif
