/* jsonrpc.h: a JSON-RPC 2.0 client over one persistent websocket
 * (libwebsockets; ws:// and wss:// with certificate verification) or over
 * HTTP (libcurl; http:// and https://: a POST per request, several in
 * flight over keep-alive connections; rpc_http.c). Requests are
 * pipelined: send many, receive answers in any order, matched by id.
 * A websocket client may also carry an HTTP URL for its bulk requests
 * (rpc_send_bulk; rpc_bulk.c runs them on a thread of its own): their
 * answers come back through rpc_poll like the websocket's.
 * Incoming messages are capped (max_message_bytes); an oversized one is
 * reported for its id instead of being buffered.
 * Thread safety: a client and its lws context belong to the thread that
 * created it; only rpc_client_wake may be called from another thread. */
#ifndef PW_JSONRPC_H
#define PW_JSONRPC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_client rpc_client;

/* The longest wait a node's answer is read as asking for (its Retry-After,
 * or a rate-limit error's backoff_seconds): an hour, in seconds. What
 * paywatch does with it is the pipeline's policy (pipeline.c). */
#define RPC_RETRY_AFTER_MAX_S 3600

/* One inbound message. */
typedef struct rpc_message {
	int error;       /* 0, or PW_ETOOBIG (root NULL) or PW_EPARSE (root NULL, snippet set) */
	bool too_dense;  /* PW_EPARSE: more JSON values than its size allows (refused unparsed) */
	size_t values;   /* too_dense: the values counted */
	bool nul_escape; /* PW_EPARSE: a string holds \u0000, which cJSON would read cut short (refused unparsed) */
	bool has_id;     /* a response to request `id` (else a notification or unattributable) */
	uint64_t id;
	cJSON *root;       /* the parsed message; freed by rpc_message_done */
	char snippet[128]; /* start of a message that failed to parse, for the log */
	long http_status;  /* HTTP transport: the response's status (200 for a plain answer); 0 over websockets */
	bool rate_limited; /* HTTP 429 (Too Many Requests): error PW_ERPC when the body is no JSON-RPC answer */
	/* HTTP 429 or 503: the answer's Retry-After, seconds (at most
	 * RPC_RETRY_AFTER_MAX_S); 0 when none, and over websockets */
	uint32_t retry_after_s;
	void *scanned; /* what the client's scanner made of it (root NULL); freed by rpc_message_done */
	void (*scanned_free)(void *scanned);
} rpc_message;

/* A client's scanner (rpc_client_set_scanner): offered each message that
 * passed the density check, before cJSON parses it (over HTTP, bodies of
 * 2xx answers only). true: it read the message itself and filled *ret
 * (has_id, id, scanned and scanned_free; root NULL); false: cJSON parses
 * the message as usual. */
typedef bool (*rpc_scanner)(void *arg, const char *data, size_t len, rpc_message *ret);

/* What a client connects to. */
typedef struct rpc_options {
	const char *url;            /* ws://, wss://, http:// or https:// */
	size_t max_message_bytes;   /* cap on one inbound message (websocket message, HTTP body) */
	const char *const *headers; /* HTTP: "Name: value" lines sent with every POST (secrets) */
	size_t n_headers;
	size_t max_connections; /* HTTP: connections kept to the node (>= 1) */
	uint32_t timeout_ms;    /* HTTP: a POST is abandoned after this (plus a margin) */
	const char *bulk_url;   /* websocket only: http:// or https:// for rpc_send_bulk (NULL: none) */
} rpc_options;

/* rpc_scan_id: find "id": <number> near the start of len bytes of JSON-RPC
 * text (nodes and paywatch put it first; the first call's, in a batch).
 * true with *ret; false when none. Used to attribute a message that
 * cannot be parsed, and HTTP failures, to their request. */
bool rpc_scan_id(const char *s, size_t len, uint64_t *ret);

/* rpc_count_values: the number of JSON values in len bytes of JSON text
 * (commas, '[' and '{' outside strings, plus one): an upper bound on the
 * nodes cJSON would make of it, counted before parsing (rpc_parse_message
 * refuses a message too dense). Any bytes are accepted; an unterminated
 * string ends the count. Public for its test against a byte-by-byte
 * reference. */
size_t rpc_count_values(const char *data, size_t len);

/* rpc_parse_message: turn one complete inbound message (len bytes, not
 * NUL-terminated) into *ret: the parsed tree and its id, or PW_EPARSE with
 * a snippet. A message holding more than one JSON value per 20 bytes (real
 * answers hold one per ~45) is refused unparsed (too_dense): a parse tree
 * costs ~100 bytes a value, so a tree costs at most ~6 times its text.
 * A message with the escape \u0000 in a string is refused unparsed too
 * (nul_escape): cJSON would end the string there and read "0x1\u00002"
 * as "0x1".
 * The caller calls rpc_message_done. Used for every message the socket
 * delivers, one at a time (rpc_poll parses the message it hands out);
 * public so the fuzz target reaches it without a socket. */
void rpc_parse_message(const char *data, size_t len, rpc_message *ret);

/* rpc_client_create: parse o->url; for a websocket, create the lws context
 * and start connecting (does not wait), and with o->bulk_url start the
 * HTTP thread of its bulk requests; for HTTP, set up the connection pool
 * (connections open with the first POST). 0 with *ret (free with
 * rpc_client_destroy), PW_EINVAL (bad URL), PW_ENOMEM, PW_ECONN. */
int rpc_client_create(const rpc_options *o, rpc_client **ret);

/* rpc_client_is_http: the client speaks HTTP (no subscriptions: the
 * caller polls for what a websocket would push). */
bool rpc_client_is_http(const rpc_client *c);

/* rpc_client_set_scanner: offer every later message to fn(arg, ...) first
 * (NULL: none). The adapter reads the answers of its hot path this way
 * without a parse tree (evm_scan_logs_answer). */
void rpc_client_set_scanner(rpc_client *c, rpc_scanner fn, void *arg);

/* rpc_client_destroy: close the socket and free everything; accepts NULL. */
void rpc_client_destroy(rpc_client *c);

/* rpc_client_wait_connected: service the socket until the websocket
 * handshake is done (HTTP: 0 at once; a dead node shows on the first
 * POST). 0, PW_ECONN (refused, closed; detail in rpc_client_error),
 * PW_ETIMEDOUT after timeout_ms milliseconds. */
int rpc_client_wait_connected(rpc_client *c, int timeout_ms);

/* rpc_send: queue {"jsonrpc":"2.0","id":N,"method":method,"params":params}
 * where params_json is a JSON array text. *ret_id gets N. 0, PW_ECONN
 * (socket closed), PW_ENOMEM. */
int rpc_send(rpc_client *c, const char *method, const char *params_json, uint64_t *ret_id);

/* rpc_send_raw: queue a preformed JSON text (a batch array); the caller
 * chose the ids with rpc_next_id. Same errors as rpc_send. */
int rpc_send_raw(rpc_client *c, const char *json, size_t len);

/* rpc_send_bulk: as rpc_send_raw, for a request whose answer may be
 * large: over HTTP to o->bulk_url when the client has one (its own thread,
 * rpc_bulk.h; the answer comes back through rpc_poll like any other), else
 * as rpc_send_raw. Same errors. */
int rpc_send_bulk(rpc_client *c, const char *json, size_t len);

/* rpc_next_id: reserve a fresh request id. */
uint64_t rpc_next_id(rpc_client *c);

/* rpc_poll: service the socket until one message is available or
 * timeout_ms milliseconds pass. 0 with *ret filled (caller calls
 * rpc_message_done), PW_ETIMEDOUT, PW_ECONN (the socket closed, or an HTTP
 * connection failed: every request in flight is lost), PW_ESTOPPED (woken
 * by rpc_client_wake). Over HTTP, a response that is not 2xx and carries
 * no JSON-RPC answer becomes a message with error PW_ERPC for the
 * request's id (rate_limited on 429), snippet "HTTP <status>: ...". */
int rpc_poll(rpc_client *c, int timeout_ms, rpc_message *ret);

/* rpc_message_done: free the message's parsed tree (or what the scanner
 * made of it). */
void rpc_message_done(rpc_message *m);

/* rpc_client_wake: make a blocked rpc_poll return PW_ESTOPPED soon.
 * Safe from any thread. */
void rpc_client_wake(rpc_client *c);

/* rpc_client_error: text of the last connection error ("" if none). */
const char *rpc_client_error(const rpc_client *c);

/* rpc_client_url: the endpoint this client talks to (may carry an API key:
 * log it through rpc_client_url_masked). */
const char *rpc_client_url_masked(const rpc_client *c);

#endif
