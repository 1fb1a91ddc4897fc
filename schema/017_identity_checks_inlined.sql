-- 017_identity_checks_inlined.sql: the identity CHECKs of 007 (hashes and
-- addresses per chain family, five per payment row) cost Postgres as much
-- as the rest of a payment's insert (issue 16, profiled with perf: the
-- executor set up for every call). Postgres inlines a one-expression SQL
-- function into the expression that calls it, but not a STRICT one whose
-- body is not strict itself (a CASE never is), so 007's were run as
-- functions, once per column per row. The same bodies without STRICT are
-- inlined: 100,000 payments COPied in 0.60x the time (median of 4
-- alternating rounds). What they accept and refuse is unchanged: every
-- column they check is NOT NULL, and for a NULL argument the inlined CASE
-- gives NULL (the CHECK passes) as STRICT did, except for a family other
-- than evm and tron, which the chain_family CHECK refuses anyway.

CREATE OR REPLACE FUNCTION paywatch_hash_ok(family text, h text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE family
        WHEN 'evm' THEN length(h) = 66 AND h = '0x' || encode(decode(substr(h, 3), 'hex'), 'hex')
        WHEN 'tron' THEN length(h) = 64 AND h = encode(decode(h, 'hex'), 'hex')
        ELSE false
    END
$$;

CREATE OR REPLACE FUNCTION paywatch_address_ok(family text, a text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE family
        WHEN 'evm' THEN length(a) = 42 AND a = '0x' || encode(decode(substr(a, 3), 'hex'), 'hex')
        WHEN 'tron' THEN length(a) = 34 AND left(a, 1) = 'T'
            AND translate(a, '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', '') = ''
        ELSE false
    END
$$;
