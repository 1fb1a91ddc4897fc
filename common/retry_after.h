/* retry_after.h: the Retry-After field of an HTTP answer (RFC 9110
 * 10.2.3), read once for every client paywatch runs: the webhook
 * dispatcher (sinks/webhook.c) and the JSON-RPC client's HTTP transport
 * (chains/rpc_http.c). A hostile or broken server may send any bytes in
 * it; what is returned is always within the caller's cap. */
#ifndef PW_RETRY_AFTER_H
#define PW_RETRY_AFTER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* pw_retry_after_s: the delay a Retry-After field value asks for, seconds
 * from now (unix seconds). value is len bytes, not terminated, white
 * space around it ignored (RFC 9110 5.5: a field value does not hold it).
 * Read as delay-seconds (digits only) or as an HTTP-date (RFC 9110 10.2.3
 * and 5.6.7: IMF-fixdate, RFC 850 and asctime, read by libcurl's
 * curl_getdate). A date not after now is 0; a delay or date further off
 * than max_s seconds (0 <= max_s <= 2^31), or digits too many to hold, is max_s.
 * -1 when the value is neither (empty, signed, a fraction, not a date, a
 * NUL inside): the answer is taken as if it had none. */
long pw_retry_after_s(const char *value, size_t len, time_t now, long max_s);

/* pw_retry_after_line: one header line of an answer as libcurl hands it
 * over (len bytes, its CRLF included, not terminated): true with
 * *ret_s (pw_retry_after_s of its value, capped at max_s) when it is a
 * Retry-After field with a value that reads; false for any other line.
 * The field name is matched without regard to case (RFC 9110 5.1). */
bool pw_retry_after_line(const char *line, size_t len, time_t now, long max_s, long *ret_s);

#endif
