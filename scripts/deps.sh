# shellcheck shell=bash
# deps.sh: sourced by scripts/test.sh and scripts/demo.sh. Installs what is
# missing on a Debian 12 machine (apt-get for libraries, the compiler and
# PostgreSQL; npm for anvil, solc and the pg client of the tests) and does
# nothing when everything is there, so the commands are idempotent.

PW_APT_PACKAGES="build-essential cmake pkg-config libwebsockets-dev librocksdb-dev libcjson-dev
libpq-dev libsecp256k1-dev libssl-dev libcurl4-openssl-dev libmicrohttpd-dev postgresql postgresql-client clang clang-format-14 libclang-rt-14-dev openssl
time strace python3-yaml prometheus shellcheck libqrencode-dev zbar-tools chromium tesseract-ocr tesseract-ocr-eng libreoffice-calc-nogui"

pw_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# pw_help FILE: the comment block at the top of FILE (after its #! line),
# as text: a script's --help, kept in one place with its header.
pw_help() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"; }
# pw_usage FILE: the "usage:" line of that block.
pw_usage() { pw_help "$1" | grep -m1 '^usage:'; }

pw_sudo() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

pw_ensure_apt() {
	local missing=() p
	for p in $PW_APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
	if [ ${#missing[@]} -gt 0 ]; then
		pw_log "installing Debian packages: ${missing[*]}"
		pw_sudo apt-get update -qq
		pw_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	local major
	major=$(node -p 'process.versions.node.split(".")[0]')
	if [ "$major" -lt 18 ]; then
		echo "node $major is too old: the test rig needs node >= 18" >&2
		return 1
	fi
}

# pw_npm_ci DIR WHAT PATH...: `npm ci` in DIR (from its package-lock.json)
# when a PATH under DIR/node_modules is missing, or the lockfile is newer
# than the last install; WHAT says what is installed.
pw_npm_ci() {
	local dir="$1" what="$2" absent=0 p
	shift 2
	for p in "$@"; do
		[ -e "$dir/node_modules/$p" ] || absent=1
	done
	if [ "$absent" = 1 ] || [ ! -e "$dir/node_modules/.package-lock.json" ] ||
		[ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		pw_log "installing $what"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
}

# npm packages of the test rig, pinned by tests/e2e/package-lock.json
pw_ensure_npm() {
	pw_npm_ci "$PW_ROOT/tests/e2e" "npm packages (anvil, solc, pg, ws, the OpenAPI validator) in tests/e2e" \
		.bin/anvil solc pg ws @apidevtools/swagger-parser ajv ajv-formats ethers playwright-core
}

# The hand-written script's packages (bench/peers/script: pg, pg-copy-streams,
# ws, pinned by its package-lock.json), for bench/run --with-script and the
# probes that COPY with them (bench/warm_probe.mjs).
pw_ensure_script_peer() {
	pw_npm_ci "$PW_ROOT/bench/peers/script" \
		"the hand-written script's packages (bench/peers/script, pinned by its package-lock.json)" pg-copy-streams
}

pw_build() { # pw_build DIR [cmake args...]
	local dir="$1"; shift
	cmake -S "$PW_ROOT" -B "$PW_ROOT/$dir" "$@" >/dev/null
	cmake --build "$PW_ROOT/$dir" -j"$(nproc)"
}
