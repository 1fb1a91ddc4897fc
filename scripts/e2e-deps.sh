#!/usr/bin/env bash
# e2e-deps.sh: the npm packages of the end-to-end test rig (anvil, solc,
# pg, ws), installed from tests/e2e/package-lock.json when missing or out
# of date. ctest runs it first (the e2e_deps fixture), so a plain `ctest`
# in a fresh clone installs what the e2e tests need instead of failing.
set -euo pipefail
PW_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/deps.sh
. "$PW_ROOT/scripts/deps.sh"
pw_ensure_npm
echo "tests/e2e/node_modules: ready"
