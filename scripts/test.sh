#!/usr/bin/env bash
# test.sh: paywatch's whole test suite. Installs what is missing, builds
# twice (plain, and with -DPAYWATCH_SANITIZE=ON for AddressSanitizer and
# UndefinedBehaviorSanitizer), and runs every ctest entry in both builds:
# unit tests and end-to-end tests against anvil and a throwaway Postgres.
# Then fuzzes for a while, keeps the benchmark, its probes and the demo
# working (nothing timed) and runs shellcheck. Exits non-zero on any
# failure. Its knobs are environment variables: PW_TEST_JOBS (ctest's -j,
# 3), PW_FUZZ_SECONDS (each fuzz target's time, 30), PW_TEST_TIMEOUT_SCALE
# (the e2e tests' waits multiplied, 3), PW_TEST_VERBOSE=1 (every e2e
# check printed, not only the failed ones).
#
# usage: bash scripts/test.sh
set -euo pipefail
PW_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/deps.sh
. "$PW_ROOT/scripts/deps.sh" # (only defines; nothing is installed or built before the arguments are read)
for a in "$@"; do
	case "$a" in
	-h | --help) pw_help "$0"; exit 0 ;;
	*)
		echo "test.sh: unknown argument '$a' (it takes none: see --help for its environment variables)" >&2
		pw_usage "$0" >&2
		exit 2
		;;
	esac
done

pw_ensure_apt
pw_ensure_npm

pw_log "build: release"
pw_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAYWATCH_WERROR=ON
pw_log "build: address + undefined sanitizers"
pw_build build-asan -DCMAKE_BUILD_TYPE=Debug -DPAYWATCH_WERROR=ON -DPAYWATCH_SANITIZE=ON

pw_log "build: libFuzzer target (clang)"
CC=clang pw_build build-fuzz -DCMAKE_BUILD_TYPE=Debug -DPAYWATCH_FUZZ=ON -DPAYWATCH_SANITIZE=ON

status=0
pw_log "tests: release build"
ctest --test-dir "$PW_ROOT/build" --output-on-failure -j"${PW_TEST_JOBS:-3}" || status=1
pw_log "tests: sanitizer build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir "$PW_ROOT/build-asan" --output-on-failure -j"${PW_TEST_JOBS:-3}" || status=1
# fuzz TARGET SEEDS MAX_LEN [libFuzzer options...]: TARGET for PW_FUZZ_SECONDS
# (30) from a copy of SEEDS; its "Done" line, or the log's tail and status=1
fuzz() {
	local target="$1" seeds="$2" max_len="$3" corpus
	shift 3
	corpus=$(mktemp -d)
	cp "$seeds"/* "$corpus"/
	if "$PW_ROOT/build-fuzz/$target" -max_total_time="${PW_FUZZ_SECONDS:-30}" -max_len="$max_len" "$@" \
		-artifact_prefix="$PW_ROOT/build-fuzz/" "$corpus" 2>"$PW_ROOT/build-fuzz/$target.log"; then
		grep -E "^Done|DONE" "$PW_ROOT/build-fuzz/$target.log" | tail -1
	else
		tail -40 "$PW_ROOT/build-fuzz/$target.log"
		echo "$target found a crash or a broken property: the input is in build-fuzz/ (crash-*)" >&2
		status=1
	fi
	rm -rf "$corpus"
}
pw_log "fuzz: JSON-RPC answers, ${PW_FUZZ_SECONDS:-30} s from the seed corpus"
fuzz fuzz_jsonrpc "$PW_ROOT/tests/fuzz/corpus" 65536
pw_log "fuzz: what operators and API callers write, ${PW_FUZZ_SECONDS:-30} s from the seed corpus"
fuzz fuzz_inputs "$PW_ROOT/tests/fuzz/corpus_inputs" 8192 -dict="$PW_ROOT/tests/fuzz/inputs.dict"
# check NAME LOG CMD...: CMD's output into LOG; "NAME: ok", or the log's tail and status=1
check() {
	local name="$1" log="$2"
	shift 2
	if "$@" >"$log" 2>&1; then
		echo "$name: ok"
	else
		tail -30 "$log"
		echo "$name failed" >&2
		status=1
	fi
}
pw_log "bench: bench/run --quick (keeps the benchmark program working; CI times nothing)"
bench_out=$(mktemp)
check "bench/run --quick" "$PW_ROOT/build/bench-quick.log" "$PW_ROOT/bench/run" --quick --out "$bench_out"
check "bench/goals.mjs" "$PW_ROOT/build/bench-goals.log" node "$PW_ROOT/bench/goals.mjs" "$bench_out"
rm -f "$bench_out"
pw_log "bench: the probes on small inputs (they read the schema and sinks/webhook.c; CI times nothing)"
pw_ensure_script_peer # bench/warm_probe.mjs COPies with pg-copy-streams
for probe in "claim_explain.mjs 5 4 3" "copy_probe.mjs 2000 1" "warm_probe.mjs 1" "settle_probe.mjs 1" "payload_probe.mjs 2000 1"; do
	# shellcheck disable=SC2086 # the probe's name and arguments, split on purpose
	check "bench/$probe" "$PW_ROOT/build/probe-${probe%%.*}.log" node "$PW_ROOT"/bench/$probe
done
pw_log "demo: the README's first command (scripts/demo.sh: payments sent on anvil confirmed in Postgres, run stopped cleanly)"
check "scripts/demo.sh" "$PW_ROOT/build/demo.log" bash "$PW_ROOT/scripts/demo.sh"
pw_log "lint: shellcheck (the shell scripts of the set-up commands, CI and the bench)"
check "shellcheck" "$PW_ROOT/build/shellcheck.log" shellcheck -x -P "$PW_ROOT" "$PW_ROOT/.ci/run" "$PW_ROOT/bench/run" \
	"$PW_ROOT"/scripts/*.sh
exit $status
