/* server.h: paywatch's HTTP/1.1 API (config "api"), served by
 * libmicrohttpd from its own threads with its own Postgres connections, so
 * that it never slows ingest. Routes: GET /healthz and /readyz (no key),
 * GET /v1/payments, /v1/payments/{id}, /v1/chains, /v1/events (long-polls:
 * longpoll.h). Authorization: Bearer KEY; the
 * key's SHA-256 is compared in constant time with every configured one.
 * Errors are JSON: {"error": {"code", "message", "param"}}. */
#ifndef PW_API_SERVER_H
#define PW_API_SERVER_H

#include "config.h"

#include <stddef.h>

typedef struct api_server api_server;

/* api_server_start: listen on cfg->api (which must be enabled) and serve
 * until api_server_stop. cfg must outlive the server. 0 with *ret, or
 * PW_EIO (cannot listen: the reason in err, errlen bytes), PW_ENOMEM. */
int api_server_start(const pw_config *cfg, api_server **ret, char *err, size_t errlen);

/* api_server_start_metrics: serve GET /metrics and /healthz only, on
 * cfg->metrics_host/port (config "metrics": `paywatch dispatch`). 0 with
 * *ret, PW_EIO (cannot listen: err), PW_ENOMEM. Stop with
 * api_server_stop. */
int api_server_start_metrics(const pw_config *cfg, api_server **ret, char *err, size_t errlen);

/* api_server_stop: stop listening, finish the requests in hand, close the
 * Postgres connections and free; accepts NULL. */
void api_server_stop(api_server *s);

/* api_key_new: a fresh API key ("pwk_" + 32 random bytes, base64url) into
 * key (at least 64 bytes) and its SHA-256 as 64 hex digits into sha256_hex
 * (65 bytes). 0 or PW_EIO (no randomness). */
int api_key_new(char *key, size_t keylen, char sha256_hex[65]);

#endif
