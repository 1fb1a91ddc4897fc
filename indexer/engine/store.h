/* store.h: the ingest state in RocksDB (one DB per process, keys prefixed
 * per chain): checkpoint, header window, pending payments, and the outbox of
 * confirmed payments not yet in Postgres. Each block's (or fetched range's)
 * effects are collected in one store_batch and committed atomically, so a
 * crash at any point leaves a consistent state.
 * Durability: writes go through RocksDB's WAL without fsync: a killed
 * process loses nothing; a power loss may lose the last writes, which are
 * then fetched again from the node (nothing was published before the WAL).
 * Thread safety: a store is shared by all threads (RocksDB is thread-safe);
 * outbox sequence numbers come from an atomic counter. A batch belongs to
 * one thread. */
#ifndef PW_STORE_H
#define PW_STORE_H

#include "payment.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;
typedef struct store_batch store_batch;

/* store_open: open (creating) the RocksDB at dir. read_only opens it as a
 * read-only instance (status commands while `run` holds the lock). The
 * first call in a process loads RocksDB's shared library (dlopen of the
 * SONAME the build compiled against): no other command pays its start.
 * Any thread. 0 with *ret (free with store_close), or PW_ESTORE with the
 * reason in err (errlen bytes): the library missing or not the version
 * built against, or RocksDB's own message. */
int store_open(const char *dir, bool read_only, store **ret, char *err, size_t errlen);

/* store_close: flush and close; accepts NULL. */
void store_close(store *s);

/* store_error: RocksDB's own message for the store's last failure (a full
 * disk says so), copied into out (outlen bytes). Any thread. */
void store_error(store *s, char *out, size_t outlen);

/* store_check_dir: is the data_dir opened still there, the same directory,
 * with its RocksDB LOCK file? 0, or PW_ESTORE with the reason in err (the
 * directory was deleted or replaced under a running process: its state is
 * gone, and so is the lock that keeps a second process out). */
int store_check_dir(store *s, char *err, size_t errlen);

/* store_inject_write_failure: fault injection for tests: after `after`
 * more writes succeed, the next one fails with PW_ESTORE (as a full disk
 * would) and writes go on normally after it; after < 0 turns it off. A
 * write is a batch commit, an outbox deletion or a state put. */
void store_inject_write_failure(store *s, long after);

/* store_get_checkpoint: the last block number fully processed for chain.
 * 0 with *ret, PW_ENOTFOUND (never started), PW_ESTORE. */
int store_get_checkpoint(store *s, const char *chain, uint64_t *ret);

/* store_get_header: the window header of block `number`. 0, PW_ENOTFOUND, PW_ESTORE. */
int store_get_header(store *s, const char *chain, uint64_t number, pw_block_ref *ret);

/* store_get_header_below: the window header with the highest block number
 * below `number` (the stored predecessor, whatever numbers lie between).
 * 0, PW_ENOTFOUND, PW_ESTORE. */
int store_get_header_below(store *s, const char *chain, uint64_t number, pw_block_ref *ret);

/* store_batch_create: an empty batch. NULL on out of memory. */
store_batch *store_batch_create(store *s);
/* store_batch_destroy: discard (uncommitted changes are dropped); accepts NULL. */
void store_batch_destroy(store_batch *b);
/* store_batch_commit: apply atomically. 0 or PW_ESTORE (batch unchanged). */
int store_batch_commit(store_batch *b);

/* The batch's writes below copy what they are given (the caller keeps its
 * strings and structs) and cannot fail on their own: a write RocksDB
 * refuses fails the batch's store_batch_commit. chain: the config's chain
 * name (at most PW_NAME_MAX - 1 bytes). */
/* store_batch_put_checkpoint: the chain's checkpoint, the last block
 * number fully processed (store_get_checkpoint reads it). */
void store_batch_put_checkpoint(store_batch *b, const char *chain, uint64_t number);
/* store_batch_put_header: the window header of block h->number (its hash,
 * its parent's hash and its time, unix seconds), replacing any stored. */
void store_batch_put_header(store_batch *b, const char *chain, const pw_block_ref *h);
/* store_batch_delete_header: drop the window header of one block (a
 * point delete; nothing happens if none is stored). */
void store_batch_delete_header(store_batch *b, const char *chain, uint64_t number);
/* store_batch_delete_headers_between: drop window headers of blocks
 * lo..hi-1 (one range tombstone). Callers keep these intervals apart:
 * RocksDB fragments overlapping range tombstones at every iterator it
 * opens (cost quadratic in how many overlap, until a flush). */
void store_batch_delete_headers_between(store_batch *b, const char *chain, uint64_t lo, uint64_t hi);
/* Payments kept per chain, keyed by (block, log index, block hash):
 * STORE_PENDING: matched, waiting for confirmations;
 * STORE_CONFIRMED: confirmed and still inside the header window, kept so a
 * reorg deeper than `confirmations` can revert them. */
enum store_set { STORE_PENDING, STORE_CONFIRMED };

/* store_batch_put_payment: p into the set (payment_encode's bytes, under
 * its chain, block number, log index and block hash), replacing an entry
 * of the same key. */
void store_batch_put_payment(store_batch *b, enum store_set set, const pw_payment *p);
/* store_batch_delete_payment: p's entry out of the set (a point delete;
 * nothing happens if none is stored). */
void store_batch_delete_payment(store_batch *b, enum store_set set, const pw_payment *p);
/* store_batch_delete_payments_between: drop entries of blocks lo..hi-1
 * (one range tombstone; keep intervals apart, as above). */
void store_batch_delete_payments_between(store_batch *b, enum store_set set, const char *chain, uint64_t lo,
					 uint64_t hi);
/* store_batch_delete_headers_from: drop window headers of blocks >= number. */
void store_batch_delete_headers_from(store_batch *b, const char *chain, uint64_t number);
/* store_batch_put_outbox: append p to the outbox. Its sequence number is
 * given at store_batch_commit, in commit order (what a reader that keeps a
 * cursor relies on); out of memory here makes the commit fail. */
void store_batch_put_outbox(store_batch *b, const pw_payment *p);

/* store_scan_payments: call fn for each entry of `set` for chain with
 * min_block <= block_number <= max_block, in (block, log index) order; fn
 * returns 0 to go on or a negative code to stop (returned). 0 or PW_ESTORE. */
int store_scan_payments(store *s, enum store_set set, const char *chain, uint64_t min_block, uint64_t max_block,
			int (*fn)(const pw_payment *p, void *arg), void *arg);

/* store_range_deletes: how many range tombstones batches of this store
 * have carried since it was opened (RocksDB refragments those still in
 * the memtable at every iterator it opens, so they should stay few).
 * Thread-safe. */
uint64_t store_range_deletes(store *s);

/* store_lowest_header: the lowest block number in chain's header window.
 * 0, PW_ENOTFOUND (empty window), PW_ESTORE. */
int store_lowest_header(store *s, const char *chain, uint64_t *ret);

/* store_outbox_read: up to max entries, in order, from the first whose
 * sequence number is >= from_seq (0: the outbox head; a sink writer passes
 * the entries other writers hold). ret_payments and ret_seqs have max
 * slots; *ret_n gets the count. 0 or PW_ESTORE (an entry that does not
 * decode). */
int store_outbox_read(store *s, uint64_t from_seq, pw_payment *ret_payments, uint64_t *ret_seqs, size_t max,
		      size_t *ret_n);

/* store_outbox_delete: remove entries by sequence number (after the sink
 * committed them to Postgres); seqs ascending, n entries. A long run of
 * consecutive numbers is removed with one range tombstone (counted in
 * store_range_deletes), anything else entry by entry. 0 or PW_ESTORE. */
int store_outbox_delete(store *s, const uint64_t *seqs, size_t n);

/* store_outbox_stats: entries in the outbox and the unix ms at which the
 * oldest was confirmed (0 when empty); only chain's entries when chain is
 * not NULL. A scan of the outbox: O(depth). 0, or PW_ESTORE / PW_ENOMEM
 * with the outputs untouched. */
int store_outbox_stats(store *s, const char *chain, uint64_t *ret_depth, int64_t *ret_oldest_ms);

/* store_outbox_stats_chains: store_outbox_stats for each of n_chains
 * chains (names) at once, in one scan of the outbox (O(depth), however
 * many chains; one scan per chain read every entry of every chain each
 * time): ret_depths[k] and ret_oldest_ms[k] (n_chains each, the caller's)
 * are chains[k]'s; entries of chains not named are passed over. 0, or
 * PW_ESTORE / PW_ENOMEM with the outputs untouched. */
int store_outbox_stats_chains(store *s, const char *const *chains, size_t n_chains, uint64_t *ret_depths,
			      int64_t *ret_oldest_ms);

/* What `paywatch run` last knew of a chain, for `paywatch status`. Written
 * by the ingest thread on each new head, applied range, finality update,
 * connect and reorg (one small put, not part of a range's batch). */
typedef struct store_chain_state {
	uint64_t head;             /* the node's head block number as last heard */
	int64_t head_time;         /* its timestamp, unix seconds; -1 when unknown */
	int64_t finalized;         /* the finalized/safe block number; -1 when unknown or unused */
	char endpoint[256];        /* masked URL of the endpoint in use; "" when disconnected */
	uint64_t reorgs;           /* reorgs followed since the process started */
	uint64_t last_reorg_depth; /* blocks rolled back by the last reorg */
	int64_t last_reorg_ms;     /* unix ms of the last reorg; 0 when none */
	int64_t updated_ms;        /* unix ms of this write */
	uint64_t checkpoint;       /* the checkpoint when last applied... */
	int64_t checkpoint_time;   /* ...and its block's timestamp, unix seconds; -1 when unknown */
} store_chain_state;

/* store_put_state: replace chain's state. 0 or PW_ESTORE. */
int store_put_state(store *s, const char *chain, const store_chain_state *st);

/* store_get_state: chain's state. 0, PW_ENOTFOUND (never written),
 * PW_ESTORE (unreadable or from another version). */
int store_get_state(store *s, const char *chain, store_chain_state *ret);

#endif
