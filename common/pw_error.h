/* pw_error.h: the project's one error convention. Functions return 0 on
 * success or a negative PW_E* code; pw_strerror() names it. Detail (a RocksDB
 * errptr, PQerrorMessage, a JSON-RPC error object) stays on the owning object. */
#ifndef PW_ERROR_H
#define PW_ERROR_H

/* X(name, value, text) */
#define PW_ERRNO_MAP(X)                                                                                                \
	X(PW_EINVAL, -1, "invalid argument")                                                                           \
	X(PW_ENOMEM, -2, "out of memory")                                                                              \
	X(PW_EPARSE, -3, "malformed input")                                                                            \
	X(PW_ERANGE, -4, "value out of range")                                                                         \
	X(PW_ETOOBIG, -5, "message exceeds size cap")                                                                  \
	X(PW_EIO, -6, "I/O error")                                                                                     \
	X(PW_ECONN, -7, "connection failed or lost")                                                                   \
	X(PW_ETIMEDOUT, -8, "timed out")                                                                               \
	X(PW_ERPC, -9, "JSON-RPC error response")                                                                      \
	X(PW_ECHAINID, -10, "chain id mismatch")                                                                       \
	X(PW_ESTORE, -11, "RocksDB error")                                                                             \
	X(PW_EDB, -12, "PostgreSQL error")                                                                             \
	X(PW_ECONFIG, -13, "bad configuration")                                                                        \
	X(PW_ENOTFOUND, -14, "not found")                                                                              \
	X(PW_ECHECKSUM, -15, "bad checksum")                                                                           \
	X(PW_EREORG, -16, "chain reorganised")                                                                         \
	X(PW_EREORGDEEP, -17, "reorg deeper than the header window")                                                   \
	X(PW_EAGAIN, -18, "try again")                                                                                 \
	X(PW_ESTOPPED, -19, "stopped")                                                                                 \
	X(PW_EREFUSED, -20, "refused for a data reason")                                                               \
	X(PW_ESCHEMA, -21, "database schema behind this build")

enum pw_errno {
#define PW_ERR_ENUM(name, value, text) name = value,
	PW_ERRNO_MAP(PW_ERR_ENUM)
#undef PW_ERR_ENUM
};

/* pw_strerror: static text for a PW_E* code (or "unknown error"); never NULL. */
const char *pw_strerror(int code);

#endif
