#!/usr/bin/env bash
# test.sh: paywatch's whole test suite. Installs what is missing, builds
# twice (plain, and with -DPAYWATCH_SANITIZE=ON for AddressSanitizer and
# UndefinedBehaviorSanitizer), and runs every ctest entry in both builds:
# unit tests and end-to-end tests against anvil and a throwaway Postgres.
set -euo pipefail
PW_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$PW_ROOT/scripts/deps.sh"

pw_ensure_apt
pw_ensure_npm

pw_log "build: release"
pw_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAYWATCH_WERROR=ON
pw_log "build: address + undefined sanitizers"
pw_build build-asan -DCMAKE_BUILD_TYPE=Debug -DPAYWATCH_WERROR=ON -DPAYWATCH_SANITIZE=ON

status=0
pw_log "tests: release build"
ctest --test-dir "$PW_ROOT/build" --output-on-failure -j2 || status=1
pw_log "tests: sanitizer build"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir "$PW_ROOT/build-asan" --output-on-failure -j2 || status=1
exit $status
