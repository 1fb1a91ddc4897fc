/* store.c: RocksDB key layout.
 *   "ckpt/" chain                         -> be64 block number
 *   "hdr/" chain "/" be64 number            -> hash32 parent32 be64 time
 *   "pend/" chain "/" be64 number be32 log_index hash32 -> payment_encode (pending)
 *   "conf/" chain "/" be64 number be32 log_index hash32 -> payment_encode (confirmed, in window)
 *   "outbox/" be64 seq                      -> payment_encode
 *   "state/" chain                        -> version byte, then store_chain_state fields
 * Big-endian numbers make RocksDB's byte order the block order. */
#include "store.h"
#include "buf.h"
#include "pw_error.h"

#include <dlfcn.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* RocksDB is loaded when the first store opens (dlopen), not with the
 * program: its C++ static constructors cost every process about 11 ms of
 * CPU at its start, half of `paywatch --version`'s, and only `run` and
 * `status` open a store (dispatch, serve, replay, migrate and the other
 * commands never do). The table holds the functions of RocksDB's C API
 * this file calls, typed from <rocksdb/c.h>. PAYWATCH_ROCKSDB_SONAME comes
 * from the build (CMakeLists.txt: the SONAME of the librocksdb it compiled
 * against). Thread safety: loaded once (pthread_once); read-only after. */
#define RDB_FUNCS(X)                                                                                                   \
	X(open)                                                                                                        \
	X(open_for_read_only)                                                                                          \
	X(close)                                                                                                       \
	X(free)                                                                                                        \
	X(get)                                                                                                         \
	X(put)                                                                                                         \
	X(write)                                                                                                       \
	X(options_create)                                                                                              \
	X(options_destroy)                                                                                             \
	X(options_set_create_if_missing)                                                                               \
	X(options_set_max_open_files)                                                                                  \
	X(options_set_compression)                                                                                     \
	X(options_set_write_buffer_size)                                                                               \
	X(options_set_max_write_buffer_number)                                                                         \
	X(options_set_block_based_table_factory)                                                                       \
	X(block_based_options_create)                                                                                  \
	X(block_based_options_destroy)                                                                                 \
	X(block_based_options_set_block_cache)                                                                         \
	X(cache_create_lru)                                                                                            \
	X(cache_destroy)                                                                                               \
	X(readoptions_create)                                                                                          \
	X(readoptions_destroy)                                                                                         \
	X(writeoptions_create)                                                                                         \
	X(writeoptions_destroy)                                                                                        \
	X(create_iterator)                                                                                             \
	X(iter_destroy)                                                                                                \
	X(iter_valid)                                                                                                  \
	X(iter_key)                                                                                                    \
	X(iter_value)                                                                                                  \
	X(iter_next)                                                                                                   \
	X(iter_seek)                                                                                                   \
	X(iter_seek_for_prev)                                                                                          \
	X(iter_get_error)                                                                                              \
	X(writebatch_create)                                                                                           \
	X(writebatch_destroy)                                                                                          \
	X(writebatch_put)                                                                                              \
	X(writebatch_delete)                                                                                           \
	X(writebatch_delete_range)

static struct {
#define RDB_FIELD(name) __typeof__(rocksdb_##name) *name;
	RDB_FUNCS(RDB_FIELD)
#undef RDB_FIELD
} rdb;
static pthread_once_t rdb_once = PTHREAD_ONCE_INIT;
static char rdb_error[600]; /* why it could not be loaded; "" once loaded */

static void rdb_load(void)
{
	void *lib = dlopen(PAYWATCH_ROCKSDB_SONAME, RTLD_NOW | RTLD_LOCAL); /* never closed */
	if (!lib) {
		const char *why = dlerror();
		snprintf(rdb_error, sizeof(rdb_error),
			 "cannot load RocksDB (%s): %s; install RocksDB's shared library (Debian: the "
			 "librocksdb package of the version paywatch was built with)",
			 PAYWATCH_ROCKSDB_SONAME, why ? why : "unknown error");
		return;
	}
	void *f;
#define RDB_LOOKUP(name)                                                                                               \
	if (!rdb_error[0]) {                                                                                           \
		if ((f = dlsym(lib, "rocksdb_" #name)) != NULL)                                                        \
			memcpy(&rdb.name, &f, sizeof(f)); /* POSIX: a function's address as void * */                  \
		else                                                                                                   \
			snprintf(rdb_error, sizeof(rdb_error),                                                         \
				 "RocksDB (%s) has no rocksdb_" #name                                                  \
				 ": not the version paywatch "                                                         \
				 "was built with",                                                                     \
				 PAYWATCH_ROCKSDB_SONAME);                                                             \
	}
	RDB_FUNCS(RDB_LOOKUP)
#undef RDB_LOOKUP
}

/* Load RocksDB once per process. 0, or PW_ESTORE with the reason in err. */
static int rdb_ready(char *err, size_t errlen)
{
	pthread_once(&rdb_once, rdb_load);
	if (!rdb_error[0])
		return 0;
	snprintf(err, errlen, "%s", rdb_error);
	return PW_ESTORE;
}

struct store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *topts;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	uint64_t next_seq;           /* the next outbox sequence number; under commit_lock */
	pthread_mutex_t commit_lock; /* numbers outbox entries and writes their batch: sequence order is commit order */
	_Atomic uint64_t range_deletes; /* range tombstones put in batches (store_range_deletes) */
	char dir[1024];
	dev_t dir_dev; /* the data_dir opened, to notice it removed or replaced */
	ino_t dir_ino;
	_Atomic long writes_left; /* test fault injection: writes before one fails; < 0 off */
	pthread_mutex_t error_lock;
	char error[512]; /* RocksDB's message for the last failure */
};

struct store_batch {
	store *s;
	rocksdb_writebatch_t *wb;
	/* outbox entries, encoded, numbered at commit: [u16 length][bytes]...
	 * (no cap: its size is the tracker's batch) */
	pw_buf outbox;
	bool outbox_failed; /* one could not be kept: the commit fails */
};

#define KEY_MAX (16 + PW_NAME_MAX + 48)

static size_t key_ckpt(char *k, const char *chain)
{
	return (size_t)snprintf(k, KEY_MAX, "ckpt/%s", chain);
}

static size_t key_hdr(char *k, const char *chain, uint64_t number)
{
	size_t n = (size_t)snprintf(k, KEY_MAX, "hdr/%s/", chain);
	pw_put_be64((uint8_t *)k + n, number);
	return n + 8;
}

static const char *const set_prefix[] = { "pend", "conf" };

static size_t key_set_prefix(char *k, enum store_set set, const char *chain)
{
	return (size_t)snprintf(k, KEY_MAX, "%s/%s/", set_prefix[set], chain);
}

static size_t key_payment(char *k, enum store_set set, const pw_payment *p)
{
	size_t n = key_set_prefix(k, set, p->chain);
	pw_put_be64((uint8_t *)k + n, p->block_number);
	pw_put_be32((uint8_t *)k + n + 8, p->log_index);
	memcpy(k + n + 12, p->block_hash, PW_HASH_LEN);
	return n + 12 + PW_HASH_LEN;
}

static size_t key_outbox(char *k, uint64_t seq)
{
	memcpy(k, "outbox/", 7);
	pw_put_be64((uint8_t *)k + 7, seq);
	return 15;
}

/* Keep RocksDB's message (freeing it) on the handle; PW_ESTORE. */
static int keep_error(store *s, const char *what, char *rerr)
{
	pthread_mutex_lock(&s->error_lock);
	snprintf(s->error, sizeof(s->error), "%s: %s", what, rerr ? rerr : "unknown error");
	pthread_mutex_unlock(&s->error_lock);
	rdb.free(rerr);
	return PW_ESTORE;
}

void store_error(store *s, char *out, size_t outlen)
{
	pthread_mutex_lock(&s->error_lock);
	snprintf(out, outlen, "%s", s->error[0] ? s->error : "no RocksDB error recorded");
	pthread_mutex_unlock(&s->error_lock);
}

/* A write is about to happen: false when the injected failure is due. */
static bool write_allowed(store *s)
{
	if (atomic_load(&s->writes_left) < 0)
		return true;
	return atomic_fetch_sub(&s->writes_left, 1) > 0;
}

void store_inject_write_failure(store *s, long after)
{
	atomic_store(&s->writes_left, after);
}

int store_check_dir(store *s, char *err, size_t errlen)
{
	struct stat st;
	char lock[1100];
	snprintf(lock, sizeof(lock), "%s/LOCK", s->dir);
	if (stat(s->dir, &st) != 0 || st.st_dev != s->dir_dev || st.st_ino != s->dir_ino) {
		snprintf(err, errlen, "data_dir %s was removed or replaced while paywatch was running", s->dir);
		return PW_ESTORE;
	}
	if (stat(lock, &st) != 0) {
		snprintf(err, errlen, "data_dir %s lost its RocksDB LOCK file while paywatch was running", s->dir);
		return PW_ESTORE;
	}
	return 0;
}

int store_open(const char *dir, bool read_only, store **ret, char *err, size_t errlen)
{
	char *rerr = NULL;
	int r = rdb_ready(err, errlen);
	if (r < 0)
		return r;
	store *s = calloc(1, sizeof(*s));
	if (!s)
		return PW_ENOMEM;
	if (!read_only)
		mkdir(dir, 0700); /* an existing dir is fine; RocksDB reports real errors */
	s->opts = rdb.options_create();
	rdb.options_set_create_if_missing(s->opts, read_only ? 0 : 1);
	rdb.options_set_max_open_files(s->opts, 256);
	/* a small, short-lived state: LZ4 cost CPU (2.5% of a backfill, perf) and saved little */
	rdb.options_set_compression(s->opts, rocksdb_no_compression);
	/* small memtables: the ingest state is small and memory is bounded by
	 * the requests in flight, not by RocksDB's 64 MiB default */
	rdb.options_set_write_buffer_size(s->opts, 4u << 20);
	rdb.options_set_max_write_buffer_number(s->opts, 2);
	/* the state is read back from memtables and a few small SST blocks: a
	 * 4 MiB block cache instead of RocksDB's default 32 MiB one */
	s->cache = rdb.cache_create_lru(4u << 20);
	s->topts = rdb.block_based_options_create();
	rdb.block_based_options_set_block_cache(s->topts, s->cache);
	rdb.options_set_block_based_table_factory(s->opts, s->topts);
	s->db = read_only ? rdb.open_for_read_only(s->opts, dir, 0, &rerr) : rdb.open(s->opts, dir, &rerr);
	if (!s->db) {
		snprintf(err, errlen, "cannot open RocksDB at %s: %s", dir, rerr ? rerr : "unknown error");
		rdb.free(rerr);
		rdb.options_destroy(s->opts);
		rdb.block_based_options_destroy(s->topts);
		rdb.cache_destroy(s->cache);
		free(s);
		return PW_ESTORE;
	}
	s->wopts = rdb.writeoptions_create();
	s->ropts = rdb.readoptions_create();
	pthread_mutex_init(&s->error_lock, NULL);
	pthread_mutex_init(&s->commit_lock, NULL);
	atomic_init(&s->writes_left, -1);
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	struct stat dst;
	if (stat(dir, &dst) == 0) {
		s->dir_dev = dst.st_dev;
		s->dir_ino = dst.st_ino;
	}
	/* the next outbox sequence follows the last one present */
	uint64_t next = 1;
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	char hi[8] = "outbox0"; /* '0' follows '/' */
	rdb.iter_seek_for_prev(it, hi, 7);
	if (rdb.iter_valid(it)) {
		size_t klen;
		const char *k = rdb.iter_key(it, &klen);
		if (klen == 15 && memcmp(k, "outbox/", 7) == 0)
			next = pw_get_be64((const uint8_t *)k + 7) + 1;
	}
	rdb.iter_destroy(it);
	s->next_seq = next;
	*ret = s;
	return 0;
}

void store_close(store *s)
{
	if (!s)
		return;
	rdb.close(s->db);
	rdb.writeoptions_destroy(s->wopts);
	rdb.readoptions_destroy(s->ropts);
	rdb.options_destroy(s->opts);
	rdb.block_based_options_destroy(s->topts);
	rdb.cache_destroy(s->cache);
	pthread_mutex_destroy(&s->error_lock);
	pthread_mutex_destroy(&s->commit_lock);
	free(s);
}

static int get_value(store *s, const char *k, size_t klen, char **ret_val, size_t *ret_len)
{
	char *rerr = NULL;
	size_t vlen = 0;
	char *v = rdb.get(s->db, s->ropts, k, klen, &vlen, &rerr);
	if (rerr)
		return keep_error(s, "read", rerr);
	if (!v)
		return PW_ENOTFOUND;
	*ret_val = v;
	*ret_len = vlen;
	return 0;
}

int store_get_checkpoint(store *s, const char *chain, uint64_t *ret)
{
	char k[KEY_MAX], *v;
	size_t vlen;
	int r = get_value(s, k, key_ckpt(k, chain), &v, &vlen);
	if (r < 0)
		return r;
	r = vlen == 8 ? 0 : PW_ESTORE;
	if (r == 0)
		*ret = pw_get_be64((const uint8_t *)v);
	rdb.free(v);
	return r;
}

int store_get_header(store *s, const char *chain, uint64_t number, pw_block_ref *ret)
{
	char k[KEY_MAX], *v;
	size_t vlen;
	int r = get_value(s, k, key_hdr(k, chain, number), &v, &vlen);
	if (r < 0)
		return r;
	if (vlen != 72) {
		rdb.free(v);
		return PW_ESTORE;
	}
	ret->number = number;
	memcpy(ret->hash, v, 32);
	memcpy(ret->parent_hash, v + 32, 32);
	ret->time = (int64_t)pw_get_be64((const uint8_t *)v + 64);
	rdb.free(v);
	return 0;
}

int store_get_header_below(store *s, const char *chain, uint64_t number, pw_block_ref *ret)
{
	char prefix[KEY_MAX], k[KEY_MAX];
	size_t plen = (size_t)snprintf(prefix, KEY_MAX, "hdr/%s/", chain);
	if (number == 0)
		return PW_ENOTFOUND;
	size_t klen = key_hdr(k, chain, number - 1);
	int r = PW_ENOTFOUND;
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	rdb.iter_seek_for_prev(it, k, klen);
	if (rdb.iter_valid(it)) {
		size_t found_len, vlen;
		const char *found = rdb.iter_key(it, &found_len);
		const char *v = rdb.iter_value(it, &vlen);
		if (found_len == plen + 8 && memcmp(found, prefix, plen) == 0) {
			if (vlen != 72) {
				r = PW_ESTORE;
			} else {
				ret->number = pw_get_be64((const uint8_t *)found + plen);
				memcpy(ret->hash, v, 32);
				memcpy(ret->parent_hash, v + 32, 32);
				ret->time = (int64_t)pw_get_be64((const uint8_t *)v + 64);
				r = 0;
			}
		}
	} else {
		char *err = NULL;
		rdb.iter_get_error(it, &err);
		if (err) {
			r = PW_ESTORE;
			free(err);
		}
	}
	rdb.iter_destroy(it);
	return r;
}

store_batch *store_batch_create(store *s)
{
	store_batch *b = malloc(sizeof(*b));
	if (!b)
		return NULL;
	*b = (store_batch){ .s = s, .wb = rdb.writebatch_create() };
	buf_init(&b->outbox, SIZE_MAX);
	return b;
}

void store_batch_destroy(store_batch *b)
{
	if (!b)
		return;
	rdb.writebatch_destroy(b->wb);
	buf_done(&b->outbox);
	free(b);
}

/* A batch with outbox entries numbers them and is written under
 * commit_lock: entries are numbered in the order their batches become
 * visible, so a reader's cursor (outbox_queue) never passes an entry that
 * is committed after it (two chains' batches, numbered in one order and
 * committed in the other, left one behind the cursor until a restart). */
int store_batch_commit(store_batch *b)
{
	char *rerr = NULL;
	if (b->outbox_failed)
		return keep_error(b->s, "write batch", strdup("out of memory keeping an outbox entry"));
	if (!write_allowed(b->s))
		return keep_error(b->s, "write batch", strdup("injected failure (test)"));
	const uint8_t *ob = (const uint8_t *)b->outbox.data;
	if (b->outbox.len)
		pthread_mutex_lock(&b->s->commit_lock);
	for (size_t off = 0; off + 2 <= b->outbox.len;) {
		size_t vlen = (size_t)ob[off] << 8 | ob[off + 1];
		char k[KEY_MAX];
		rdb.writebatch_put(b->wb, k, key_outbox(k, b->s->next_seq++), (const char *)ob + off + 2, vlen);
		off += 2 + vlen;
	}
	rdb.write(b->s->db, b->s->wopts, b->wb, &rerr);
	if (b->outbox.len)
		pthread_mutex_unlock(&b->s->commit_lock);
	if (rerr)
		return keep_error(b->s, "write batch", rerr);
	return 0;
}

void store_batch_put_checkpoint(store_batch *b, const char *chain, uint64_t number)
{
	char k[KEY_MAX];
	uint8_t v[8];
	pw_put_be64(v, number);
	rdb.writebatch_put(b->wb, k, key_ckpt(k, chain), (const char *)v, 8);
}

void store_batch_put_header(store_batch *b, const char *chain, const pw_block_ref *h)
{
	char k[KEY_MAX];
	uint8_t v[72];
	memcpy(v, h->hash, 32);
	memcpy(v + 32, h->parent_hash, 32);
	pw_put_be64(v + 64, (uint64_t)h->time);
	rdb.writebatch_put(b->wb, k, key_hdr(k, chain, h->number), (const char *)v, sizeof(v));
}

void store_batch_delete_header(store_batch *b, const char *chain, uint64_t number)
{
	char k[KEY_MAX];
	rdb.writebatch_delete(b->wb, k, key_hdr(k, chain, number));
}

void store_batch_delete_headers_between(store_batch *b, const char *chain, uint64_t lo_block, uint64_t hi_block)
{
	if (lo_block >= hi_block)
		return;
	char lo[KEY_MAX], hi[KEY_MAX];
	size_t nlo = key_hdr(lo, chain, lo_block), nhi = key_hdr(hi, chain, hi_block);
	atomic_fetch_add(&b->s->range_deletes, 1);
	rdb.writebatch_delete_range(b->wb, lo, nlo, hi, nhi);
}

void store_batch_put_payment(store_batch *b, enum store_set set, const pw_payment *p)
{
	char k[KEY_MAX];
	uint8_t v[PW_PAYMENT_ENC_MAX];
	size_t vlen = payment_encode(p, v);
	rdb.writebatch_put(b->wb, k, key_payment(k, set, p), (const char *)v, vlen);
}

void store_batch_delete_payment(store_batch *b, enum store_set set, const pw_payment *p)
{
	char k[KEY_MAX];
	rdb.writebatch_delete(b->wb, k, key_payment(k, set, p));
}

void store_batch_delete_payments_between(store_batch *b, enum store_set set, const char *chain, uint64_t lo_block,
					 uint64_t hi_block)
{
	if (lo_block >= hi_block)
		return;
	char lo[KEY_MAX], hi[KEY_MAX];
	size_t nlo = key_set_prefix(lo, set, chain), nhi = key_set_prefix(hi, set, chain);
	pw_put_be64((uint8_t *)lo + nlo, lo_block);
	pw_put_be64((uint8_t *)hi + nhi, hi_block);
	atomic_fetch_add(&b->s->range_deletes, 1);
	rdb.writebatch_delete_range(b->wb, lo, nlo + 8, hi, nhi + 8);
}

void store_batch_delete_headers_from(store_batch *b, const char *chain, uint64_t number)
{
	char lo[KEY_MAX], hi[KEY_MAX];
	size_t nlo = key_hdr(lo, chain, number);
	size_t nhi = (size_t)snprintf(hi, KEY_MAX, "hdr/%s0", chain); /* '0' sorts right after '/' */
	atomic_fetch_add(&b->s->range_deletes, 1);
	rdb.writebatch_delete_range(b->wb, lo, nlo, hi, nhi);
}

void store_batch_put_outbox(store_batch *b, const pw_payment *p)
{
	uint8_t v[2 + PW_PAYMENT_ENC_MAX];
	size_t vlen = payment_encode(p, v + 2);
	v[0] = (uint8_t)(vlen >> 8);
	v[1] = (uint8_t)vlen;
	if (buf_append(&b->outbox, v, 2 + vlen) < 0)
		b->outbox_failed = true; /* the commit fails: nothing of the batch is written */
}

int store_scan_payments(store *s, enum store_set set, const char *chain, uint64_t min_block, uint64_t max_block,
			int (*fn)(const pw_payment *p, void *arg), void *arg)
{
	char prefix[KEY_MAX], start[KEY_MAX];
	size_t plen = key_set_prefix(prefix, set, chain);
	memcpy(start, prefix, plen);
	pw_put_be64((uint8_t *)start + plen, min_block);
	int r = 0;
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	for (rdb.iter_seek(it, start, plen + 8); rdb.iter_valid(it); rdb.iter_next(it)) {
		size_t klen, vlen;
		const char *k = rdb.iter_key(it, &klen);
		if (klen != plen + 12 + PW_HASH_LEN || memcmp(k, prefix, plen) != 0)
			break;
		if (pw_get_be64((const uint8_t *)k + plen) > max_block)
			break;
		const char *v = rdb.iter_value(it, &vlen);
		pw_payment p;
		if (payment_decode((const uint8_t *)v, vlen, &p) < 0) {
			r = PW_ESTORE;
			break;
		}
		if ((r = fn(&p, arg)) < 0)
			break;
	}
	char *rerr = NULL;
	rdb.iter_get_error(it, &rerr);
	if (rerr)
		r = keep_error(s, "scan payments", rerr);
	rdb.iter_destroy(it);
	return r;
}

uint64_t store_range_deletes(store *s)
{
	return atomic_load(&s->range_deletes);
}

int store_lowest_header(store *s, const char *chain, uint64_t *ret)
{
	char prefix[KEY_MAX];
	size_t plen = (size_t)snprintf(prefix, KEY_MAX, "hdr/%s/", chain);
	int r = PW_ENOTFOUND;
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	rdb.iter_seek(it, prefix, plen);
	if (rdb.iter_valid(it)) {
		size_t klen;
		const char *k = rdb.iter_key(it, &klen);
		if (klen == plen + 8 && memcmp(k, prefix, plen) == 0) {
			*ret = pw_get_be64((const uint8_t *)k + plen);
			r = 0;
		}
	}
	rdb.iter_destroy(it);
	return r;
}

int store_outbox_read(store *s, uint64_t from_seq, pw_payment *ret_payments, uint64_t *ret_seqs, size_t max,
		      size_t *ret_n)
{
	size_t n = 0;
	int r = 0;
	char start[KEY_MAX];
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	for (rdb.iter_seek(it, start, key_outbox(start, from_seq)); rdb.iter_valid(it) && n < max; rdb.iter_next(it)) {
		size_t klen, vlen;
		const char *k = rdb.iter_key(it, &klen);
		if (klen != 15 || memcmp(k, "outbox/", 7) != 0)
			break;
		const char *v = rdb.iter_value(it, &vlen);
		if (payment_decode((const uint8_t *)v, vlen, &ret_payments[n]) < 0) {
			r = PW_ESTORE;
			break;
		}
		ret_seqs[n++] = pw_get_be64((const uint8_t *)k + 7);
	}
	rdb.iter_destroy(it);
	if (r == 0)
		*ret_n = n;
	return r;
}

/* A run of at least OUTBOX_RANGE_MIN consecutive sequence numbers (a
 * backfill's batch, as outbox_queue hands it out) goes as one range
 * deletion: no other entry can have a number inside the range, and one
 * range tombstone costs the memtable, its flush and the writers' reads of
 * the outbox far less than a tombstone per entry (a backfill: 0.73x of
 * paywatch's CPU). Smaller batches (live blocks) keep a tombstone per
 * entry, so range tombstones stay few (store_range_deletes). */
#define OUTBOX_RANGE_MIN 64

int store_outbox_delete(store *s, const uint64_t *seqs, size_t n)
{
	rocksdb_writebatch_t *wb = rdb.writebatch_create();
	char k[KEY_MAX], *rerr = NULL;
	bool run = n >= OUTBOX_RANGE_MIN && seqs[n - 1] != UINT64_MAX;
	for (size_t i = 1; run && i < n; i++)
		run = seqs[i] == seqs[0] + i;
	if (run) {
		char end[KEY_MAX];
		atomic_fetch_add(&s->range_deletes, 1);
		rdb.writebatch_delete_range(wb, k, key_outbox(k, seqs[0]), end, key_outbox(end, seqs[n - 1] + 1));
	}
	for (size_t i = 0; !run && i < n; i++)
		rdb.writebatch_delete(wb, k, key_outbox(k, seqs[i]));
	if (!write_allowed(s))
		rerr = strdup("injected failure (test)");
	else
		rdb.write(s->db, s->wopts, wb, &rerr);
	rdb.writebatch_destroy(wb);
	if (rerr)
		return keep_error(s, "delete outbox entries", rerr);
	return 0;
}

/* The outbox scan of store_outbox_stats (chains NULL: every entry into
 * [0], only the first decoded) and store_outbox_stats_chains. */
static int outbox_scan(store *s, const char *const *chains, size_t n_chains, uint64_t *depths, int64_t *oldest)
{
	size_t last = 0; /* the chain the last entry was of: entries come in runs of one chain */
	rocksdb_iterator_t *it = rdb.create_iterator(s->db, s->ropts);
	for (rdb.iter_seek(it, "outbox/", 7); rdb.iter_valid(it); rdb.iter_next(it)) {
		size_t klen, vlen;
		const char *k = rdb.iter_key(it, &klen);
		if (klen != 15 || memcmp(k, "outbox/", 7) != 0)
			break;
		size_t at = 0;
		if (chains || depths[0] == 0) {
			pw_payment p;
			const char *v = rdb.iter_value(it, &vlen);
			if (payment_decode((const uint8_t *)v, vlen, &p) < 0)
				continue;
			if (chains) {
				at = last < n_chains && strcmp(p.chain, chains[last]) == 0 ? last : n_chains;
				for (size_t i = 0; at == n_chains && i < n_chains; i++)
					if (strcmp(p.chain, chains[i]) == 0)
						at = i;
				if (at == n_chains)
					continue;
				last = at;
			}
			if (depths[at] == 0)
				oldest[at] = p.confirmed_at_ms;
		}
		depths[at]++;
	}
	char *rerr = NULL;
	rdb.iter_get_error(it, &rerr);
	rdb.iter_destroy(it);
	if (rerr)
		return keep_error(s, "outbox stats", rerr);
	return 0;
}

int store_outbox_stats_chains(store *s, const char *const *chains, size_t n_chains, uint64_t *ret_depths,
			      int64_t *ret_oldest_ms)
{
	uint64_t *depths = calloc(n_chains ? n_chains : 1, sizeof(*depths));
	int64_t *oldest = calloc(n_chains ? n_chains : 1, sizeof(*oldest));
	int r = depths && oldest ? outbox_scan(s, chains, n_chains, depths, oldest) : PW_ENOMEM;
	if (r == 0) {
		memcpy(ret_depths, depths, n_chains * sizeof(*depths));
		memcpy(ret_oldest_ms, oldest, n_chains * sizeof(*oldest));
	}
	free(depths);
	free(oldest);
	return r;
}

int store_outbox_stats(store *s, const char *chain, uint64_t *ret_depth, int64_t *ret_oldest_ms)
{
	if (chain)
		return store_outbox_stats_chains(s, &chain, 1, ret_depth, ret_oldest_ms);
	uint64_t depth = 0;
	int64_t oldest = 0;
	int r = outbox_scan(s, NULL, 0, &depth, &oldest);
	if (r == 0) {
		*ret_depth = depth;
		*ret_oldest_ms = oldest;
	}
	return r;
}

#define STATE_VERSION 2
#define STATE_LEN (1 + 8 * 9 + 2 + 255)

static size_t key_state(char *k, const char *chain)
{
	return (size_t)snprintf(k, KEY_MAX, "state/%s", chain);
}

int store_put_state(store *s, const char *chain, const store_chain_state *st)
{
	uint8_t v[STATE_LEN];
	size_t n = 0, elen = strnlen(st->endpoint, sizeof(st->endpoint) - 1);
	v[n++] = STATE_VERSION;
	pw_put_be64(v + n, st->head), n += 8;
	pw_put_be64(v + n, (uint64_t)st->head_time), n += 8;
	pw_put_be64(v + n, (uint64_t)st->finalized), n += 8;
	pw_put_be64(v + n, st->reorgs), n += 8;
	pw_put_be64(v + n, st->last_reorg_depth), n += 8;
	pw_put_be64(v + n, (uint64_t)st->last_reorg_ms), n += 8;
	pw_put_be64(v + n, (uint64_t)st->updated_ms), n += 8;
	pw_put_be64(v + n, st->checkpoint), n += 8;
	pw_put_be64(v + n, (uint64_t)st->checkpoint_time), n += 8;
	v[n++] = (uint8_t)(elen >> 8);
	v[n++] = (uint8_t)elen;
	memcpy(v + n, st->endpoint, elen), n += elen;
	char *rerr = NULL;
	if (!write_allowed(s)) {
		rerr = strdup("injected failure (test)");
	} else {
		char k[KEY_MAX];
		rdb.put(s->db, s->wopts, k, key_state(k, chain), (const char *)v, n, &rerr);
	}
	if (rerr)
		return keep_error(s, "put chain state", rerr);
	return 0;
}

int store_get_state(store *s, const char *chain, store_chain_state *ret)
{
	char k[KEY_MAX], *raw;
	size_t vlen;
	int r = get_value(s, k, key_state(k, chain), &raw, &vlen);
	if (r < 0)
		return r;
	const uint8_t *v = (const uint8_t *)raw;
	size_t fixed = STATE_LEN - 255;
	size_t elen = vlen >= fixed ? ((size_t)v[fixed - 2] << 8 | v[fixed - 1]) : 0;
	if (vlen < fixed || v[0] != STATE_VERSION || elen > 255 || vlen != fixed + elen) {
		rdb.free(raw);
		return PW_ESTORE;
	}
	store_chain_state st;
	memset(&st, 0, sizeof(st));
	size_t n = 1;
	st.head = pw_get_be64(v + n), n += 8;
	st.head_time = (int64_t)pw_get_be64(v + n), n += 8;
	st.finalized = (int64_t)pw_get_be64(v + n), n += 8;
	st.reorgs = pw_get_be64(v + n), n += 8;
	st.last_reorg_depth = pw_get_be64(v + n), n += 8;
	st.last_reorg_ms = (int64_t)pw_get_be64(v + n), n += 8;
	st.updated_ms = (int64_t)pw_get_be64(v + n), n += 8;
	st.checkpoint = pw_get_be64(v + n), n += 8;
	st.checkpoint_time = (int64_t)pw_get_be64(v + n), n += 8;
	memcpy(st.endpoint, v + fixed, elen);
	rdb.free(raw);
	*ret = st;
	return 0;
}
