# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing scripts
# Shared set-up for the tests that run sevpn-proxy against sevpn-testhub, as any user on
# loopback (no root, no namespaces). Source it from bash, then:
#   hl_init NAME; hl_hub_start hub [HUB ARGS...]; hl_http_start; hl_file big.bin 64
#   hl_proxy_start proxy [CLIENT ARGS...]; hl_fetch "$HL_URL/big.bin"
# Everything started is recorded by PID and stopped (TERM, then KILL) by the EXIT trap;
# the work dir is removed unless HL_KEEP=1. On failure the tails of the logs are shown.

set -eu
set -o pipefail

HL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HL_PIDS=()
HL_W=
HL_USER=alice
HL_ANON=guest

hl_log() { printf '[%s %3ss] %s\n' "${HL_NAME:-hub}" "$SECONDS" "$*" >&2; }
hl_fail() {
	hl_log "FAIL: $*"
	exit 1
}
hl_skip() {
	echo "SKIP: $*"
	exit 77
}
hl_alive() { kill -0 "$1" 2>/dev/null && [ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]; }
# Seconds since the epoch with microseconds.
hl_now() { if [ -n "${EPOCHREALTIME:-}" ]; then printf '%s\n' "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi; }
hl_elapsed() { awk -v a="$1" -v b="$(hl_now)" 'BEGIN { printf "%.2f", b - a }'; }
hl_free_port() { "$HL_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

hl_stop_pid() { # PID: TERM, KILL after 5 s, reap
	local pid=$1 n=50
	kill -TERM "$pid" 2>/dev/null || true
	while [ "$n" -gt 0 ] && hl_alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

hl_cleanup() {
	local rc=$? i f
	set +e
	trap - EXIT
	for ((i = ${#HL_PIDS[@]} - 1; i >= 0; i--)); do
		hl_stop_pid "${HL_PIDS[i]}"
	done
	# sanitizer builds: a report in any log (the hub's and the client's) fails the test
	if [ -n "$HL_W" ] && grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HL_W"/*.log >/dev/null 2>&1; then
		grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HL_W"/*.log | while read -r f; do
			echo "----- sanitizer report in ${f##*/} -----" >&2
			grep -A 30 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -n 60 >&2
		done
		[ "$rc" -eq 0 ] && rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$HL_W" ]; then
		for f in "$HL_W"/*.log; do
			[ -s "$f" ] || continue
			echo "----- tail of ${f##*/} -----" >&2
			tail -n 25 "$f" >&2
		done
	fi
	if [ -n "$HL_W" ] && [ "${HL_KEEP:-0}" != 1 ]; then
		rm -rf "$HL_W"
	elif [ -n "$HL_W" ]; then
		hl_log "kept work dir $HL_W"
	fi
	exit "$rc"
}

# hl_init NAME HUB_BIN PROXY_BIN: tools (else exit 77), work dir, certificate (HL_FP),
# password (HL_PASS), traps.
hl_init() {
	HL_NAME=$1
	HL_HUB_BIN=$2
	HL_PROXY_BIN=$3
	local t
	HL_PY=$(command -v python3) || hl_skip "python3 not installed"
	for t in openssl curl sha256sum timeout; do
		command -v "$t" >/dev/null || hl_skip "$t not installed"
	done
	[ -x "$HL_HUB_BIN" ] || hl_fail "no hub binary $HL_HUB_BIN"
	[ -x "$HL_PROXY_BIN" ] || hl_fail "no client binary $HL_PROXY_BIN"
	HL_W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-$HL_NAME.XXXXXX")
	trap hl_cleanup EXIT
	trap 'hl_log "FAIL: unexpected status $? at line $LINENO: $BASH_COMMAND"' ERR
	HL_FP=$("$HL_DIR/mkcert.sh" "$HL_W")
	HL_PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
}

# hl_hub_start NAME [ARGS...]: a hub with user alice (HL_PASS) and anonymous user guest,
# log in $HL_W/NAME.log. Sets HL_HUB_PID, HL_HUB_PORT, HL_HUB_LOG.
hl_hub_start() {
	local name=$1 n=100
	shift
	HL_HUB_LOG=$HL_W/$name.log
	SEVPN_TESTHUB_PASSWORD=$HL_PASS "$HL_HUB_BIN" --cert "$HL_W/hub.crt" --key "$HL_W/hub.key" \
		--listen 127.0.0.1:0 --user "$HL_USER" --anonymous "$HL_ANON" \
		--dns-name intranet.test=10.77.0.1 "$@" >"$HL_W/$name.out" 2>"$HL_HUB_LOG" &
	HL_HUB_PID=$!
	HL_PIDS+=("$HL_HUB_PID")
	until grep -qs '^listening ' "$HL_W/$name.out"; do
		hl_alive "$HL_HUB_PID" || hl_fail "hub $name exited"
		n=$((n - 1))
		[ "$n" -gt 0 ] || hl_fail "hub $name printed no listening line"
		sleep 0.1
	done
	HL_HUB_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$HL_W/$name.out")
	[ -n "$HL_HUB_PORT" ] || hl_fail "hub $name: no port"
}

# hl_hub_stop: stops the current hub (its log stays).
hl_hub_stop() { hl_stop_pid "$HL_HUB_PID"; }

# hl_http_start: a web server on 127.0.0.1 serving $HL_W/www, which the hub's LAN
# reaches as intranet.test (10.77.0.1). Sets HL_URL (http://intranet.test:PORT).
hl_http_start() {
	local port n=50
	mkdir -p "$HL_W/www"
	echo "hello through the hub" >"$HL_W/www/small.txt"
	port=$(hl_free_port)
	(cd "$HL_W/www" && exec "$HL_PY" -m http.server --bind 127.0.0.1 "$port") >"$HL_W/httpd.txt" 2>&1 &
	HL_PIDS+=($!)
	until curl -sf -o /dev/null "http://127.0.0.1:$port/small.txt"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || hl_fail "the web server did not start"
		sleep 0.1
	done
	HL_URL=http://intranet.test:$port
}

# hl_file NAME MIB: a random file in the web root; sets HL_SHA256.
hl_file() {
	head -c "$(($2 * 1048576))" /dev/urandom >"$HL_W/www/$1"
	HL_SHA256=$(sha256sum "$HL_W/www/$1" | cut -d' ' -f1)
}

# hl_proxy_args: the client's arguments for the current hub (HL_SOCKS: a free port).
hl_proxy_args() {
	HL_SOCKS=127.0.0.1:$(hl_free_port)
	HL_PROXY_ARGS=(--server "127.0.0.1:$HL_HUB_PORT" --hub "${HL_HUB:-DEFAULT}" --user "$HL_USER"
		--pin "$HL_FP" --socks "$HL_SOCKS")
}

# hl_proxy_start NAME [ARGS...]: the client with the right password; waits for its ready
# line (HL_READY_TIMEOUT s, default 20). Sets HL_PROXY_PID, HL_PROXY_LOG, HL_READY_LINE.
hl_proxy_start() {
	local name=$1 deadline
	shift
	hl_proxy_args
	HL_PROXY_LOG=$HL_W/$name.log
	SEVPN_PASSWORD=$HL_PASS "$HL_PROXY_BIN" "${HL_PROXY_ARGS[@]}" "$@" >/dev/null 2>"$HL_PROXY_LOG" &
	HL_PROXY_PID=$!
	HL_PIDS+=("$HL_PROXY_PID")
	deadline=$((SECONDS + ${HL_READY_TIMEOUT:-20}))
	until grep -qs '^ready ' "$HL_PROXY_LOG"; do
		hl_alive "$HL_PROXY_PID" || hl_fail "sevpn-proxy ($name) exited before it was ready"
		[ "$SECONDS" -lt "$deadline" ] || hl_fail "sevpn-proxy ($name) not ready in ${HL_READY_TIMEOUT:-20} s"
		sleep 0.05
	done
	HL_READY_LINE=$(grep -m1 '^ready ' "$HL_PROXY_LOG")
}

# hl_proxy_stop: SIGTERM to the client; fails unless it exits 0 within 5 s.
hl_proxy_stop() {
	local n=50 rc
	kill -TERM "$HL_PROXY_PID"
	while [ "$n" -gt 0 ] && hl_alive "$HL_PROXY_PID"; do
		sleep 0.1
		n=$((n - 1))
	done
	hl_alive "$HL_PROXY_PID" && hl_fail "sevpn-proxy did not stop within 5 s of SIGTERM"
	wait "$HL_PROXY_PID" && rc=0 || rc=$?
	[ "$rc" -eq 0 ] || hl_fail "sevpn-proxy exit status $rc after SIGTERM"
}

# hl_proxy_run NAME PASSWORD [ARGS...]: runs the client until it exits (at most
# HL_RUN_TIMEOUT s, default 20). Sets HL_RC (124: still running), HL_ELAPSED, HL_RUN_LOG.
hl_proxy_run() {
	local name=$1 pass=$2 t0
	shift 2
	hl_proxy_args
	HL_RUN_LOG=$HL_W/$name.log
	t0=$(hl_now)
	HL_RC=0
	SEVPN_PASSWORD=$pass timeout "${HL_RUN_TIMEOUT:-20}" "$HL_PROXY_BIN" "${HL_PROXY_ARGS[@]}" "$@" \
		>/dev/null 2>"$HL_RUN_LOG" || HL_RC=$?
	HL_ELAPSED=$(hl_elapsed "$t0")
}

# hl_fetch URL [CURL ARGS...]: prints the SHA-256 of URL fetched through the client's SOCKS5.
hl_fetch() {
	local url=$1
	shift
	curl -sS --max-time "${HL_CURL_TIMEOUT:-60}" --socks5-hostname "$HL_SOCKS" "$@" "$url" |
		sha256sum | cut -d' ' -f1
}
