/* rpc_http.h: the HTTP transport of the JSON-RPC client (jsonrpc.h): each
 * request is one POST of its JSON text (a call or a batch), several in
 * flight over keep-alive connections (libcurl multi), each answer body one
 * inbound message. A JSON-RPC 2.0 answer over HTTP is the body of the
 * POST's response (JSON-RPC 2.0 spec, section 4; the transport is not
 * specified there, HTTP POST with application/json is what Ethereum
 * clients and java-tron's /jsonrpc serve).
 * Internal to chains/jsonrpc.c: callers use the rpc_* functions. */
#ifndef PW_RPC_HTTP_H
#define PW_RPC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_http rpc_http;

/* One finished POST, handed to the client's inbound queue. */
typedef struct rpc_http_answer {
	char *body; /* the response body (NUL-terminated, malloc'd; caller frees), NULL when not kept */
	size_t len;
	uint64_t first_id; /* the first JSON-RPC id of the request (for answers that carry none) */
	bool has_id;
	long status;  /* HTTP status; 0 when no response arrived */
	bool too_big; /* the body passed max_message_bytes and was cut off */
	/* the answer's Retry-After (RFC 9110 10.2.3), seconds, at most
	 * RPC_RETRY_AFTER_MAX_S (jsonrpc.h); 0 when it had none (or asked for none) */
	uint32_t retry_after_s;
} rpc_http_answer;

/* rpc_http_create: a transport for url (http:// or https://; TLS verifies
 * the server's certificate) sending headers (n "Name: value" lines; the
 * values are secrets, never logged) with every POST, at most
 * max_connections connections to the node, each response body capped at
 * max_message_bytes, each POST abandoned after timeout_ms milliseconds.
 * 0 with *ret (free with rpc_http_destroy), PW_EINVAL (bad URL), PW_ENOMEM. */
int rpc_http_create(const char *url, const char *const *headers, size_t n, size_t max_connections,
		    size_t max_message_bytes, uint32_t timeout_ms, rpc_http **ret);

/* rpc_http_destroy: abandon every POST in flight and free; accepts NULL. */
void rpc_http_destroy(rpc_http *h);

/* rpc_http_send: POST len bytes of JSON text whose first JSON-RPC id is
 * first_id (has_id false: none found), given back with its answer for
 * bodies that carry none (an HTTP error page). 0, PW_ENOMEM, PW_ECONN
 * (after a transport failure: the client is to be recreated). */
int rpc_http_send(rpc_http *h, const char *json, size_t len, bool has_id, uint64_t first_id);

/* rpc_http_poll: run the transfers until one POST finishes or timeout_ms
 * milliseconds pass. 0 with *ret (one answer), PW_ETIMEDOUT, PW_ESTOPPED
 * (woken by rpc_http_wake), PW_ECONN (a connection failed: refused, reset,
 * DNS, TLS; the detail in rpc_http_error; every POST in flight is lost). */
int rpc_http_poll(rpc_http *h, int timeout_ms, rpc_http_answer *ret);

/* rpc_http_wake: make a blocked rpc_http_poll return soon. Any thread. */
void rpc_http_wake(rpc_http *h);

/* rpc_http_error: the last transport failure ("" if none); no secrets. */
const char *rpc_http_error(const rpc_http *h);

#endif
