/* config.h: paywatch.json, parsed and validated once at start. Values of the
 * form ${NAME} are taken from the environment, so secrets never live in the
 * file; a bad config is refused with the JSON path of the bad field. */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include "bip32.h"
#include "chain.h"
#include "payment.h"
#include "netaddr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The logs per eth_getLogs answer a chain's range grows toward (about
 * 0.8 MB of log JSON at 1,250). 1,250, not 2,500: the first answers come
 * sooner and the node's work arrives in finer pieces for the writers (a
 * backfill 0.95x the time in two A/B runs of 6 rounds, peak RSS 48 against
 * 51 MB; 625 gave 1.02x of 1,250: bench/HISTORY.md, a twenty-sixth
 * session). A provider that charges per request counts one per this many
 * logs on a dense history: chains[].logs_per_request raises it. */
#define CFG_LOGS_PER_REQUEST 1250

/* config files larger than 256 MiB are refused (a million merchant
 * addresses take ~50 MB of JSON) */
#define CONFIG_MAX_BYTES (256u << 20)

/* The default cap on one node message: 32 MiB. Real answers are far
 * smaller (a range is sized for ~1,250 logs, ~0.8 MB; geth caps a batch
 * answer at 25 MB); an answer over the cap halves the range. A parse
 * tree costs at most ~6 times its message (rpc_parse_message). */
#define PW_DEFAULT_MAX_MESSAGE_BYTES (32ull << 20)

#define CFG_MAX_TOKENS 1000 /* watched tokens per chain */

#define CFG_MAX_URLS 16         /* node URLs per chain */
#define CFG_MAX_HTTP_HEADERS 16 /* http_headers per chain */

typedef struct cfg_token {
	char symbol[PW_NAME_MAX];
	pw_addr address;   /* as the chain's logs carry it (20 bytes for EVM and Tron) */
	unsigned decimals; /* 0..77 */
} cfg_token;

typedef struct cfg_chain {
	char name[PW_NAME_MAX];
	const chain_family *family; /* picked by "kind" (chains/chain.c) */
	uint64_t chain_id;
	enum chain_transport transport; /* WS for ws_url(s) (with or without http_url(s)), else HTTP */
	char **urls;                    /* n_urls 1..CFG_MAX_URLS, all ws(s):// or all http(s)://; tried in turn */
	size_t n_urls;
	char **bulk_urls; /* websocket chains given http_url(s) too: n_urls http(s):// URLs, the k-th
			   * serving the k-th websocket's eth_getLogs; else NULL, 0 */
	size_t n_bulk_urls;
	chain_header *http_headers; /* sent with HTTP requests (HTTP chains, bulk_urls); values are secrets (****) */
	size_t n_http_headers;
	uint32_t poll_interval_ms;    /* HTTP only: head polling; default 1000 */
	uint32_t confirmations;       /* >= 1; default 12 (unused in finality mode) */
	enum chain_finality finality; /* CHAIN_FINALITY_CONFIRMATIONS unless "finality" is given */
	uint32_t head_timeout_ms;     /* no new head for this long: probe, then fail over; default 60000 */
	/* /readyz: ready while the checkpoint is at most this far behind the head; default 100 */
	uint32_t max_lag_blocks;
	uint64_t start_block; /* block number; default 0 (unused with start_at_head) */
	/* "start_block": "head": with no checkpoint yet, indexing begins at the
	 * first head the node names (ingest.c begin_at_head) */
	bool start_at_head;
	uint32_t reorg_window;     /* headers kept; default max(confirmations, 64) + 64, 256 with finality */
	uint64_t max_range;        /* largest eth_getLogs range in blocks; default 2000 (at most the family's limit) */
	uint32_t max_in_flight;    /* eth_getLogs requests in flight; default 4 */
	uint32_t logs_per_request; /* the range grows toward this many logs per eth_getLogs answer; 100..10000,
				    * default CFG_LOGS_PER_REQUEST */
	/* cap on one node message (websocket message, HTTP body); default PW_DEFAULT_MAX_MESSAGE_BYTES */
	uint64_t max_message_bytes;
	uint32_t request_timeout_ms; /* default 15000 */
	cfg_token *tokens;
	size_t n_tokens;
} cfg_chain;

typedef struct cfg_address {
	size_t chain_index; /* into pw_config.chains */
	pw_addr address;    /* parsed by the chain's family */
} cfg_address;

/* Webhook event types a merchant may subscribe to (a bit mask). */
enum cfg_event {
	CFG_EVENT_CONFIRMED = 1 << 0, /* payment.confirmed */
	CFG_EVENT_REVERTED = 1 << 1,  /* payment.reverted */
	CFG_EVENT_PENDING = 1 << 2,   /* payment.pending (opt-in) */
	CFG_EVENT_INVOICE_PROCESSING = 1 << 3,
	CFG_EVENT_INVOICE_PAID = 1 << 4,
	CFG_EVENT_INVOICE_EXPIRED = 1 << 5,
	CFG_EVENT_INVOICE_PAYMENT_LATE = 1 << 6,
	CFG_EVENT_INVOICE_REVERTED = 1 << 7,
	CFG_EVENT_INVOICE_CANCELLED = 1 << 8,
};
/* Every type's bit. */
#define CFG_EVENTS_ALL 0x1ffu
/* What a merchant or endpoint gets without an "events" list: every type
 * but payment.pending. */
#define CFG_EVENTS_DEFAULT (CFG_EVENTS_ALL & ~(unsigned)CFG_EVENT_PENDING)

/* The event types by name, in this order (cfg_event_types[k].bit). */
typedef struct cfg_event_type {
	const char *name; /* "payment.confirmed", ..., "invoice.reverted" */
	unsigned bit;     /* enum cfg_event */
} cfg_event_type;
extern const cfg_event_type cfg_event_types[];
extern const size_t cfg_n_event_types;
/* The names joined by ", " for an error message. */
#define CFG_EVENT_NAMES                                                                                                \
	"payment.confirmed, payment.reverted, payment.pending, invoice.processing, invoice.paid, invoice.expired, "    \
	"invoice.payment_late, invoice.reverted, invoice.cancelled"

/* cfg_event_bit: the bit of an event type name, 0 for none. */
unsigned cfg_event_bit(const char *name);

/* cfg_events_literal: the types of mask as a Postgres text[] literal
 * ("{payment.confirmed,...}") into out (outlen bytes; 256 hold every
 * type). */
void cfg_events_literal(unsigned mask, char *out, size_t outlen);

/* A merchant's webhook endpoint. The id is stable (Postgres knows the
 * endpoint by (merchant id, endpoint id), never by its URL): the URL may
 * change (a rotated token in it) and keep the endpoint's deliveries. */
typedef struct cfg_endpoint {
	char id[PW_NAME_MAX]; /* "default" / "1", "2", ... when the config gives none */
	char *url;            /* http:// or https://; may carry credentials: shown only through webhook_url_display */
	/* "whsec_" + base64 of 24..64 bytes (Standard Webhooks), the newest first; never logged */
	char **secrets;
	size_t n_secrets; /* 1..10: one signature per secret while rotating */
} cfg_endpoint;

/* A merchant's HD deposit addresses: a BIP-32 extended public key, the
 * path template of its addresses (one '*': the index), the chains they
 * are watched on, and the gap limit (indices watched beyond the highest
 * one paid). */
#define CFG_XPUB_CHAINS_MAX 16
typedef struct cfg_xpub {
	bool set;
	char key[BIP32_TEXT_MAX]; /* xpub... / tpub...: public, but private to the merchant: shown by fingerprint */
	char fingerprint[9];      /* bip32_fingerprint of the key */
	char path[64];            /* default "0/<star>" */
	size_t chains[CFG_XPUB_CHAINS_MAX]; /* chain indexes; default: every chain whose family derives addresses */
	size_t n_chains;
	uint32_t gap_limit; /* 1..1000, default 20 */
} cfg_xpub;

typedef struct cfg_merchant {
	char id[PW_NAME_MAX];
	cfg_xpub xpub;
	cfg_address *addresses;
	size_t n_addresses;
	cfg_endpoint *endpoints; /* webhook endpoints; n_endpoints may be 0 */
	size_t n_endpoints;
	unsigned events; /* enum cfg_event mask; default confirmed | reverted */
} cfg_merchant;

/* Webhook delivery settings (top-level "webhooks"). */
typedef struct cfg_webhooks {
	bool allow_private_targets; /* let URLs resolve to loopback/private/link-local (tests) */
	bool in_run;                /* `run` delivers too (default); false: only `paywatch dispatch` does */
	uint32_t *retry_schedule_s; /* delay before each attempt, seconds; [0] is the first */
	size_t n_retry_schedule;
	uint32_t timeout_ms;       /* per attempt; default 15000 */
	uint32_t max_in_flight;    /* deliveries in flight per dispatcher (its threads share them); default 64 */
	uint32_t threads;          /* `paywatch dispatch`'s dispatcher threads, 1..16; default 2 */
	uint32_t max_per_endpoint; /* in flight per endpoint; default 4 */
	char *proxy;               /* explicit HTTP proxy URL, or NULL: none (http_proxy etc. are ignored) */
} cfg_webhooks;

/* An API key: its id (for logs and metrics), the SHA-256 of the key
 * (the key itself is never stored) and the merchant it is limited to
 * ("" : an admin key, every merchant). */
typedef struct cfg_api_key {
	char id[PW_NAME_MAX];
	uint8_t sha256[32];
	char merchant_id[PW_NAME_MAX];
} cfg_api_key;

#define CFG_MAX_API_KEYS 1000
#define CFG_MAX_TRUSTED_PROXIES 64

/* The HTTP API (top-level "api"; absent: no API). */
typedef struct cfg_api {
	bool enabled;
	char host[64]; /* an IP literal to listen on */
	uint16_t port;
	cfg_api_key *keys;
	size_t n_keys;
	uint32_t rate_per_s;           /* per key: token bucket refill, requests per second; default 50 */
	uint32_t burst;                /* bucket size; default 100 */
	uint32_t max_connections;      /* default 256 */
	uint32_t statement_timeout_ms; /* per query; default 5000 */
	uint32_t pg_connections;       /* the API's own Postgres connections; default 4 */
	uint32_t max_outbox_age_s;     /* /readyz: the outbox's oldest entry younger than this; default 60 */
	uint32_t max_report_age_s;     /* /readyz: run's last chain report younger than this; default 30 */
	char *tls_cert, *tls_key;      /* "tls": PEM file names (HTTPS); NULL: plain HTTP */
	/* "trusted_proxies": the addresses or blocks of reverse proxies whose
	 * X-Forwarded-For (or Forwarded: forwarded_header) names the client
	 * (the checkout pages' rate limit per client); none: the header is
	 * never read */
	pw_ipnet trusted_proxies[CFG_MAX_TRUSTED_PROXIES];
	size_t n_trusted_proxies;
	/* "forwarded_header": the header the trusted proxies write the
	 * client in, "X-Forwarded-For" (default, false) or "Forwarded" (RFC
	 * 7239, true). The other one is never read: a proxy passes on,
	 * untouched, what a client wrote in a header it does not write. */
	bool forwarded_rfc7239;
} cfg_api;

typedef struct pw_config {
	char *data_dir;
	char *pg_dsn; /* secret: print only through config_mask_dsn */
	cfg_chain *chains;
	size_t n_chains;
	cfg_merchant *merchants;
	size_t n_merchants;
	cfg_webhooks webhooks;
	cfg_api api;
	bool metrics_enabled; /* "metrics": where `dispatch` serves /metrics */
	char metrics_host[64];
	uint16_t metrics_port;
} pw_config;

/* config_parse: parse and validate len bytes of JSON text. On success *ret
 * is a new config the caller frees with config_destroy. On failure returns
 * PW_ECONFIG (or PW_ENOMEM) and writes "json.path: reason" into err
 * (errlen bytes); *ret untouched. ${NAME} references are resolved with getenv. */
int config_parse(const char *text, size_t len, pw_config **ret, char *err, size_t errlen);

/* config_load: read the file at path (at most CONFIG_MAX_BYTES) and
 * config_parse it. Same contract; an unreadable file is PW_ECONFIG too. */
int config_load(const char *path, pw_config **ret, char *err, size_t errlen);

/* config_destroy: free everything; accepts NULL. */
void config_destroy(pw_config *cfg);

/* config_dump_masked: the resolved config as indented JSON with secrets
 * masked (DSN password, webhook secrets). Caller frees with free(); NULL on
 * out of memory. */
char *config_dump_masked(const pw_config *cfg);

/* config_valid_id: s can be a merchant id or an API key id: 1..PW_NAME_MAX-1
 * characters of A-Z a-z 0-9 _ - . (the config's own rule for them). */
bool config_valid_id(const char *s);

/* config_mask_dsn: dsn as libpq parses it, as key=value pairs with the
 * password shown as **** (pg_dsn_mask), into out (outlen bytes). */
void config_mask_dsn(const char *dsn, char *out, size_t outlen);

/* config_mask_node_url: scheme://host[:port] of a node URL (ws, wss,
 * http, https), then a masked path ("/" and four asterisks) in place of a
 * path or query (they often hold a provider's API key). */
void config_mask_node_url(const char *url, char *out, size_t outlen);

/* config_chain_params: what chain c's adapter needs to talk to its URL
 * number url_index (taken modulo n_urls) with tokens (c->n_tokens entries,
 * filled here from c->tokens; the caller owns the array). The params
 * borrow c and tokens. */
chain_params config_chain_params(const cfg_chain *c, size_t url_index, pw_addr *tokens);

/* config_find_chain: index of the chain named name, or -1. */
int config_find_chain(const pw_config *cfg, const char *name);

#endif
