/* fuzz_jsonrpc.c: libFuzzer target for the JSON-RPC answer path of a
 * running ingest: one websocket message -> rpc_parse_message ->
 * evm_message_to_event, with the requests a live ingest has in flight
 * (eth_getLogs, a header batch, eth_blockNumber, a finalized block) and
 * the newHeads subscription. Any input must end in an event or be ignored:
 * no crash, no leak, no undefined behaviour. */
#include "chain.h"
#include "evm_int.h"
#include "jsonrpc.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chain_adapter *a = evm_adapter_create_detached(15000);
	if (!a)
		return 0;
	evm_track(a, 1, 1, REQ_TRANSFERS, 0, 1000000);
	evm_track(a, 2, 4, REQ_HEADERS, 10, 13);
	evm_track(a, 6, 1, REQ_NUMBER, 0, 0);
	evm_track(a, 7, 1, REQ_TAG, 0, 0);
	rpc_message m;
	rpc_parse_message((const char *)data, size, &m);
	chain_event ev;
	if (evm_message_to_event(a, &m, &ev))
		chain_event_done(&ev);
	rpc_message_done(&m);
	evm_chain_ops.close(a);
	return 0;
}
