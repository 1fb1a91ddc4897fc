/* rpc_bulk.h: the bulk requests of a websocket client sent over HTTP
 * instead (an EVM chain given both ws_url and http_url: new heads on the
 * websocket, eth_getLogs answers, the bulk of a backfill, over HTTP where
 * libcurl reads a body without websocket framing). The HTTP transport
 * (rpc_http.c) runs on a thread of its own: the client queues a request
 * and wakes it; each answer is queued back and wake(arg) tells the
 * client's loop (lws_cancel_service). A transport failure ends the
 * thread: every request in flight is lost, as for the websocket itself.
 * Internal to chains/jsonrpc.c. */
#ifndef PW_RPC_BULK_H
#define PW_RPC_BULK_H

#include "rpc_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_bulk rpc_bulk;

/* rpc_bulk_start: the transport for url (rpc_http_create's arguments) and
 * its thread; wake(arg) is called from that thread when an answer or a
 * failure waits. 0 with *ret (stop with rpc_bulk_stop), PW_EINVAL (bad
 * URL), PW_ENOMEM. */
int rpc_bulk_start(const char *url, const char *const *headers, size_t n_headers, size_t max_connections,
		   size_t max_message_bytes, uint32_t timeout_ms, void (*wake)(void *arg), void *arg, rpc_bulk **ret);

/* rpc_bulk_stop: end the thread (requests in flight abandoned) and free
 * everything; accepts NULL. */
void rpc_bulk_stop(rpc_bulk *b);

/* rpc_bulk_send: queue len bytes of JSON text (one call or a batch) whose
 * first JSON-RPC id is first_id (has_id false: none found; given back
 * with an answer whose body carries none). 0, PW_ENOMEM, or PW_ECONN once
 * the transport failed. */
int rpc_bulk_send(rpc_bulk *b, const char *json, size_t len, bool has_id, uint64_t first_id);

/* rpc_bulk_ready: an answer or a failure waits to be taken. */
bool rpc_bulk_ready(rpc_bulk *b);

/* rpc_bulk_take: 0 with the oldest answer (its body the caller's to
 * free), PW_EAGAIN when none waits, PW_ECONN when the transport failed
 * (every request in flight is lost; rpc_bulk_error says why). */
int rpc_bulk_take(rpc_bulk *b, rpc_http_answer *ret);

/* rpc_bulk_error: the transport failure ("" if none); no secrets. The
 * text stays valid until rpc_bulk_stop. */
const char *rpc_bulk_error(rpc_bulk *b);

#endif
