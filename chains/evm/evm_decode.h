/* evm_decode.h: decoding of Ethereum JSON-RPC results (eth_getLogs log
 * objects, block headers) into fixed-size structs, validating every field:
 * hex lengths, QUANTITY form, topic count. Field names follow the
 * Ethereum JSON-RPC specification. */
#ifndef PW_EVM_DECODE_H
#define PW_EVM_DECODE_H

#include "chain.h"

#include <cjson/cJSON.h>

/* keccak256("Transfer(address,address,uint256)") */
extern const uint8_t evm_transfer_topic[32];

/* evm_decode_transfer: decode one log object. Every number is bounded to
 * what the pipeline and the schema hold (payment.h: block number, log
 * index, blockTimestamp); a value beyond is malformed.
 * 0: an ERC-20 Transfer (topic0 = Transfer, exactly 3 topics, 32-byte data,
 *    not "removed"); *ret filled.
 * PW_ENOTFOUND: a well-formed log that is no ERC-20 Transfer (ERC-721's 4
 *    topics, another event, a removed log); ret untouched.
 * PW_EPARSE: a malformed log; a reason is written to err (errlen bytes). */
int evm_decode_transfer(const cJSON *log, chain_transfer *ret, char *err, size_t errlen);

/* evm_decode_logs: decode an eth_getLogs result array. On success *ret
 * holds the ERC-20 transfers in log order (caller frees with free(); NULL
 * when none), *ret_n their count, *ret_logs the number of logs seen. A log
 * repeated whole within the answer is one transfer. PW_EPARSE (err says
 * which log and why: a malformed log, a value above what paywatch stores,
 * two different logs under one (blockHash, logIndex), a block with two
 * hashes or two timestamps) or PW_ENOMEM; outputs untouched. */
int evm_decode_logs(const cJSON *result, chain_transfer **ret, size_t *ret_n, size_t *ret_logs, char *err,
		    size_t errlen);

/* evm_check_transfers: within one answer (or the parts of one range), a
 * block has one hash and one timestamp, and a log identity (block hash,
 * log index) names one log. A log repeated whole is one transfer (the
 * repeats are dropped in place, order kept, *ret_n shrinks); two different
 * logs under one identity, or one block with two hashes or two timestamps,
 * make the answer malformed: PW_EPARSE with err set (t untouched), or
 * PW_ENOMEM. O(n log n). */
int evm_check_transfers(chain_transfer *t, size_t *ret_n, char *err, size_t errlen);

/* evm_scan_logs_answer: the fast path of an eth_getLogs answer: the whole
 * message text (len bytes, JSON-RPC 2.0) read in one pass, without a
 * parse tree, when it is a plain {"jsonrpc", "id", "result": [log, ...]}
 * object of well-formed logs: 0 with *ret_id, *ret (the transfers,
 * malloc'd, the caller frees; NULL when none), *ret_n and *ret_logs,
 * exactly what rpc_parse_message and evm_decode_logs give for the same
 * text. PW_EAGAIN for anything else (an error member, a batch, escapes,
 * a malformed or repeated field, a value above what paywatch stores, an
 * inconsistent answer): the caller parses the message with cJSON, whose
 * path reports what is wrong. PW_ENOMEM. Tested against that path on
 * real answers and on mutations of them (unit_evm_decode, fuzz_jsonrpc). */
int evm_scan_logs_answer(const char *text, size_t len, uint64_t *ret_id, chain_transfer **ret, size_t *ret_n,
			 size_t *ret_logs);

/* evm_decode_header: a block object (eth_getBlockByNumber, newHeads) into
 * *ret. 0, or PW_EPARSE with err set. */
int evm_decode_header(const cJSON *block, pw_block_ref *ret, char *err, size_t errlen);

#endif
