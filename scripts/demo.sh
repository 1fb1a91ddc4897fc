#!/usr/bin/env bash
# demo.sh: the main job on a local default. Installs what is missing, builds
# paywatch, starts a local dev chain (anvil) and PostgreSQL, deploys a
# USDC-like token, runs `paywatch migrate` and `paywatch run`, sends a few
# transfers and shows the confirmed payments arriving. `--keep` keeps it
# running until Ctrl-C.
#
# usage: bash scripts/demo.sh [--keep]
set -euo pipefail
PW_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/deps.sh
. "$PW_ROOT/scripts/deps.sh" # (only defines; nothing is installed or built before the arguments are read)
for a in "$@"; do
	case "$a" in
	-h | --help) pw_help "$0"; exit 0 ;;
	--keep) ;;
	*)
		echo "demo.sh: unknown argument '$a'" >&2
		pw_usage "$0" >&2
		exit 2
		;;
	esac
done
pw_ensure_apt
pw_ensure_npm
pw_log "build"
pw_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
exec node "$PW_ROOT/scripts/demo.mjs" "$PW_ROOT/build/paywatch" "$@"
