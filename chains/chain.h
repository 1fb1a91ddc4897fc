/* chain.h: the interface a chain family implements (EVM now; Tron, Solana
 * later), as a table of function pointers, and the registry of families
 * (chain.c): the config's "kind" picks a family here, and nothing above
 * chains/ names one. The tracker above it is the same for every chain.
 * Requests are asynchronous so several can be in flight: request_*
 * returns a request id, poll() yields events that answer them.
 * Thread safety: an adapter belongs to one ingest thread; the registry is
 * constant. */
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
	pw_txid tx_hash;
	uint32_t log_index;
	pw_addr token;
	pw_addr from;
	pw_addr to;
	uint8_t amount[PW_U256_LEN]; /* base units, big-endian */
} chain_transfer;

/* chain_transfer_equal: the same transfer, field by field. */
bool chain_transfer_equal(const chain_transfer *a, const chain_transfer *b);

/* When a payment counts as confirmed: after a number of confirmations, or
 * once the node's "safe" or "finalized" block covers it (Tron's finalized
 * block is its solidified block). */
enum chain_finality {
	CHAIN_FINALITY_CONFIRMATIONS = 0,
	CHAIN_FINALITY_SAFE = 1,
	CHAIN_FINALITY_FINALIZED = 2,
};

/* chain_finality_tag: the JSON-RPC block tag of a finality mode
 * ("safe", "finalized"); "" for CHAIN_FINALITY_CONFIRMATIONS. */
const char *chain_finality_tag(enum chain_finality f);

/* How JSON-RPC reaches the node: one websocket (newHeads subscription), or
 * HTTP POSTs over keep-alive connections (the head is polled). */
enum chain_transport { CHAIN_TRANSPORT_WS = 0, CHAIN_TRANSPORT_HTTP = 1 };

/* An HTTP header sent with every request (HTTP transport): a provider's API
 * key. The value is a secret: never logged or shown. */
typedef struct chain_header {
	char *name;
	char *value;
} chain_header;

/* What an adapter needs to know; strings are borrowed for its lifetime. */
typedef struct chain_params {
	const char *name;
	const char *url; /* ws://, wss:// (websocket) or http://, https:// (HTTP) */
	/* websocket chains: http(s):// for eth_getLogs (its answers, a backfill's bulk), or NULL */
	const char *bulk_url;
	uint64_t chain_id;
	const pw_addr *tokens; /* watched token contracts */
	size_t n_tokens;
	size_t max_message_bytes;
	uint32_t request_timeout_ms;
	const chain_header *headers; /* HTTP only: sent with every request */
	size_t n_headers;
	uint32_t poll_interval_ms; /* HTTP only: how often the head is asked for */
	uint32_t max_in_flight;    /* HTTP only: connections kept to the node */
} chain_params;

enum chain_event_kind {
	CHAIN_EV_TRANSFERS, /* answer to request_transfers */
	CHAIN_EV_HEADERS,   /* answer to request_headers (in the order asked) */
	CHAIN_EV_HEAD,      /* a new head from the live subscription (headers[0]) */
	CHAIN_EV_NUMBER,    /* answer to request_head_number or request_tag_number */
	CHAIN_EV_ERROR,     /* a request failed (req set) or the connection did (req 0) */
};

/* The longest a node's Retry-After holds a request back (seconds): a node
 * asking for longer is asked again after this long, or left for the
 * chain's next endpoint when it has one. Bounds what a hostile or broken
 * node can stall (RFC 9110 10.2.3 lets it ask for any delay). */
#define CHAIN_RETRY_AFTER_WAIT_MAX_S 60

typedef struct chain_event {
	enum chain_event_kind kind;
	uint64_t req;
	int error;            /* CHAIN_EV_ERROR: PW_ETOOBIG, PW_ERPC, PW_EPARSE, PW_ETIMEDOUT, PW_ECONN */
	bool range_too_large; /* CHAIN_EV_ERROR: the node refused the range as too large */
	bool rate_limited;    /* CHAIN_EV_ERROR: the node asked us to slow down (429, -32005 "rate") */
	/* CHAIN_EV_ERROR: the wait the node asks for, seconds (0: none): over
	 * HTTP a 429 or 503's Retry-After, and a rate-limit error's
	 * backoff_seconds (Infura's -32005) on either transport */
	uint32_t retry_after_s;
	char detail[256];          /* CHAIN_EV_ERROR: node message or parse detail, no secrets */
	chain_transfer *transfers; /* CHAIN_EV_TRANSFERS; owned by the event */
	size_t n_transfers;
	size_t n_logs;         /* logs in the answer, payments or not */
	pw_block_ref *headers; /* CHAIN_EV_HEADERS / CHAIN_EV_HEAD; owned by the event */
	size_t n_headers;
	uint64_t number; /* CHAIN_EV_NUMBER */
} chain_event;

typedef struct chain_adapter chain_adapter;

typedef struct chain_ops {
	const char *kind;
	/* connect: open params->url, verify the chain id (PW_ECHAINID on a
	 * mismatch, detail in err), subscribe to new heads. Blocks up to
	 * timeout_ms. 0 with *ret, or PW_ECONN / PW_ETIMEDOUT / PW_ERPC. */
	int (*connect)(const chain_params *params, int timeout_ms, chain_adapter **ret, char *err, size_t errlen);
	/* close: free the adapter; accepts NULL. */
	void (*close)(chain_adapter *a);
	/* request_transfers: transfers of the watched tokens in blocks
	 * [from, to] (block numbers, inclusive). */
	int (*request_transfers)(chain_adapter *a, uint64_t from, uint64_t to, uint64_t *ret_req);
	/* request_headers: the canonical headers of n block numbers. */
	int (*request_headers)(chain_adapter *a, const uint64_t *numbers, size_t n, uint64_t *ret_req);
	/* request_head_number: the node's latest block number. */
	int (*request_head_number)(chain_adapter *a, uint64_t *ret_req);
	/* request_tag_number: the number of the block the node calls safe or
	 * finalized (f is not CHAIN_FINALITY_CONFIRMATIONS); CHAIN_EV_NUMBER,
	 * or CHAIN_EV_ERROR with PW_ENOTFOUND when the node has none yet. */
	int (*request_tag_number)(chain_adapter *a, enum chain_finality f, uint64_t *ret_req);
	/* poll: wait up to timeout_ms for one event. 0 with *ret (release
	 * with chain_event_done), PW_ETIMEDOUT, or PW_ECONN (connection lost:
	 * all requests in flight are gone; close and reconnect). */
	int (*poll)(chain_adapter *a, int timeout_ms, chain_event *ret);
	/* endpoint: the masked URL in use, for logs. */
	const char *(*endpoint)(const chain_adapter *a);
} chain_ops;

/* chain_event_done: free what an event owns; accepts NULL. */
void chain_event_done(chain_event *ev);

/* chain_asked_wait_ms: the wait a node asked for (retry_after_s: its
 * Retry-After or backoff_seconds, seconds; 0: none) as it is waited, in
 * milliseconds: at most CHAIN_RETRY_AFTER_WAIT_MAX_S. */
int64_t chain_asked_wait_ms(uint32_t retry_after_s);

/* A chain family: its adapter, what its nodes can do, and how it reads
 * the config's addresses. */
typedef struct chain_family {
	const char *kind;         /* the config's "kind": "evm", "tron" */
	uint8_t family;           /* enum pw_family: how its identities are written (idfmt.h) */
	const chain_ops *ops;     /* its adapter */
	size_t address_len;       /* bytes of an address as its logs carry it */
	bool has_safe;            /* the node knows a "safe" block tag */
	bool has_websocket;       /* its nodes serve JSON-RPC over a websocket */
	uint64_t max_range;       /* the most blocks its nodes answer in one log query; 0: no fixed limit */
	const char *address_hint; /* how its addresses are written, for errors */
	/* parse_address: an address as a config writes it, into *ret. 0, or
	 * PW_EPARSE / PW_ECHECKSUM with the reason in err (errlen bytes);
	 * *ret untouched on error. */
	int (*parse_address)(const char *text, pw_addr *ret, char *err, size_t errlen);
	/* format_address_input: an address as a config would write it (EVM:
	 * EIP-55), for messages; out holds PW_ADDR_TEXT_MAX bytes. */
	void (*format_address_input)(const pw_addr *a, char *out);
	/* address_of_key: the address of a secp256k1 public key (33 bytes,
	 * SEC1 compressed), for HD deposit addresses (bip32.h); NULL for a
	 * family whose addresses are not derived from such keys. 0, or
	 * PW_EPARSE (not a point of the curve). */
	int (*address_of_key)(const uint8_t key[33], pw_addr *ret);
	/* payment_uri: the URI a wallet opens to pay amount (base units) of
	 * token to `to` on chain_id, into out (outlen bytes); NULL for a
	 * family without one. 0 or PW_ETOOBIG. */
	int (*payment_uri)(const pw_addr *token, uint64_t chain_id, const pw_addr *to, const uint8_t amount[32],
			   char *out, size_t outlen);
} chain_family;

/* chain_family_find: the family registered under kind, or NULL. */
const chain_family *chain_family_find(const char *kind);

/* chain_family_at: the i-th registered family (the first is the default
 * where a kind may be left out), or NULL past the last. */
const chain_family *chain_family_at(size_t i);

/* chain_family_kinds: the registered kinds for a message
 * ("\"evm\", \"tron\""). */
const char *chain_family_kinds(void);

#endif
