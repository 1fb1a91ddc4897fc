/* buf.h: a growable byte buffer with a hard cap (as curl's dynbuf), for
 * everything fed from outside: websocket messages, SQL text, COPY data. */
#ifndef PW_BUF_H
#define PW_BUF_H

#include <stddef.h>

typedef struct pw_buf {
	char *data;   /* NUL-terminated after every append; NULL while empty */
	size_t len;   /* bytes used, excluding the terminator */
	size_t alloc; /* bytes allocated */
	size_t cap;   /* maximum len; appends beyond it fail with PW_ETOOBIG */
} pw_buf;

/* buf_init: an empty buffer that may hold up to cap bytes. Caller owns b. */
void buf_init(pw_buf *b, size_t cap);
/* buf_done: free the memory; b is empty and reusable afterwards. */
void buf_done(pw_buf *b);
/* buf_reset: len = 0, memory kept. */
void buf_reset(pw_buf *b);
/* buf_truncate: back to len bytes (a length it had before: undoing
 * appends); no-op when len >= b->len. Memory kept, terminator restored. */
void buf_truncate(pw_buf *b, size_t len);
/* buf_append: add n bytes. 0, PW_ETOOBIG past the cap (b unchanged), PW_ENOMEM. */
int buf_append(pw_buf *b, const void *data, size_t n);
/* buf_appendf: printf-style append; same errors as buf_append. */
int buf_appendf(pw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
