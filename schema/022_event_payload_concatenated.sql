-- 022_event_payload_concatenated.sql: a payment event's body written by
-- concatenation (issue 16), the same bytes as 003's json_build_object and
-- json_strip_nulls. Every payment event's body is made by this function,
-- in the statement that writes the event: a backfill with webhooks on
-- makes one per payment. 003's form built the data object as JSON, then
-- json_strip_nulls parsed that text and wrote it again to drop its nulls;
-- over 100,000 payments the function took 1.56-2.08 s of Postgres's time,
-- this form 0.64-0.78 s (bench/payload_probe.mjs 100000 6: 0.37x by the
-- median; bench/HISTORY.md, a thirty-ninth session).
--
-- The bytes: the outer object as json_build_object writes it ("key" :
-- value, pairs joined by ", "); the data object and its token as
-- json_strip_nulls writes them (no spaces), a key whose value is NULL left
-- out, at either level (concat_ws skips NULL parts); every text value
-- escaped by to_json, as json_build_object escapes it; numbers as their
-- text; amount, amount_raw and the two times as quoted strings (digits,
-- '.', '-', ':' and letters only: nothing to escape). e2e_sink compares
-- this function with 003's over values with quotes,
-- backslashes, control characters, non-ASCII text and NULLs in every
-- argument.
CREATE OR REPLACE FUNCTION paywatch_event_payload(type text, id bigint, chain text, chain_id bigint, block_number bigint,
    block_hash text, block_time timestamptz, tx_hash text, log_index int, token_address text, token_symbol text,
    decimals int, from_address text, to_address text, amount numeric, amount_raw numeric, confirmations int,
    merchant_id text, status text, reverses_event_id text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT '{"type" : ' || coalesce(to_json(type)::text, 'null')
        || ', "timestamp" : "' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '", "data" : {' || concat_ws(',',
            '"id":' || id, '"chain":' || to_json(chain), '"chain_id":' || chain_id,
            '"block_number":' || block_number, '"block_hash":' || to_json(block_hash),
            '"block_time":"' || to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"',
            '"tx_hash":' || to_json(tx_hash), '"log_index":' || log_index,
            '"token":{' || concat_ws(',', '"address":' || to_json(token_address),
                                     '"symbol":' || to_json(token_symbol), '"decimals":' || decimals) || '}',
            '"from":' || to_json(from_address), '"to":' || to_json(to_address),
            '"amount":"' || amount || '"', '"amount_raw":"' || amount_raw || '"',
            '"confirmations":' || confirmations, '"merchant_id":' || to_json(merchant_id),
            '"status":' || to_json(status), '"reverses_event_id":' || to_json(reverses_event_id)) || '}}'
$$;
