#!/bin/bash
# Reaching the server through an upstream proxy, against the test hub (no root): an
# HTTP CONNECT proxy and a SOCKS5 proxy, each with credentials (tests/cli/upstream_proxy.py),
# given by --upstream-proxy and by HTTPS_PROXY; a wrong proxy password ends at once with
# a message naming the proxy (exit 2); NO_PROXY and --no-upstream-proxy bypass it.
# usage: upstream_proxy_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
set -eu
HUB=${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
PROXY=${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v python3) || { echo "SKIP: python3 not installed"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-up.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	rc=$?
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -s "$f" ] || continue
			echo "----- tail of $f -----" >&2
			tail -n 20 "$f" >&2
		done
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
log() { printf '[upstream %3ss] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { # FILE PATTERN PID
	for _ in $(seq 100); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

FP=$("$HERE/../hub/mkcert.sh" "$W")
PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 \
	--user alice >"$W/hub.out" 2>"$W/hub.log" &
PIDS+=($!)
wait_line "$W/hub.out" '^listening ' "${PIDS[-1]}" || fail "hub did not start"
PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$W/hub.out")

for kind in http socks5; do
	"$PY" "$HERE/upstream_proxy.py" "$kind" "pu:s3cret word" >"$W/$kind.out" 2>"$W/$kind-proxy.log" &
	PIDS+=($!)
	wait_line "$W/$kind.out" '^listening ' "${PIDS[-1]}" || fail "$kind proxy did not start"
done
HTTP_P=$(sed -n 's/^listening //p' "$W/http.out")
SOCKS_P=$(sed -n 's/^listening //p' "$W/socks5.out")

# run NAME [ENV=...] -- ARGS: the client in exec mode with `true`; sets rc
run() {
	local name=$1
	shift
	rc=0
	env SEVPN_PASSWORD="$PASS" "$@" --server "127.0.0.1:$PORT" --hub DEFAULT --user alice \
		--pin "$FP" --no-config --socks "127.0.0.1:$(free_port)" -- true 2>"$W/$name.log" || rc=$?
}

run http-opt "$PROXY" --upstream-proxy "http://pu:s3cret%20word@127.0.0.1:$HTTP_P"
[ "$rc" -eq 0 ] || fail "through the HTTP CONNECT proxy: exit $rc"
grep -q "CONNECT 127.0.0.1:$PORT: 200" "$W/http-proxy.log" || fail "the HTTP proxy saw no CONNECT"
run socks-env HTTPS_PROXY="socks5://pu:s3cret%20word@127.0.0.1:$SOCKS_P" "$PROXY"
[ "$rc" -eq 0 ] || fail "through the SOCKS5 proxy from HTTPS_PROXY: exit $rc"
grep -q "SOCKS5 127.0.0.1:$PORT: ok" "$W/socks5-proxy.log" || fail "the SOCKS5 proxy saw no CONNECT"
log "logged in through an HTTP CONNECT proxy (option) and a SOCKS5 proxy (HTTPS_PROXY)"

run http-badpw "$PROXY" --upstream-proxy "http://pu:wrong@127.0.0.1:$HTTP_P"
[ "$rc" -eq 125 ] || fail "wrong HTTP proxy password: exit $rc, expected 125 (exec mode, no tunnel)"
grep -qi "upstream proxy" "$W/http-badpw.log" || fail "the message does not name the proxy"
grep -q "wrong" "$W/http-badpw.log" && fail "the proxy password appears in the log"
run socks-badpw "$PROXY" --upstream-proxy "socks5://pu:wrong@127.0.0.1:$SOCKS_P"
[ "$rc" -eq 125 ] || fail "wrong SOCKS5 proxy password: exit $rc"
grep -qi "upstream proxy" "$W/socks-badpw.log" || fail "the SOCKS5 message does not name the proxy"
n=$(grep -c "attempt\|reconnecting" "$W/http-badpw.log" || true)
[ "$n" -eq 0 ] || fail "a refused proxy login was retried"
log "wrong proxy credentials: refused at once, the message names the proxy, no password in it"

# bypasses: NO_PROXY for the server's host, and --no-upstream-proxy
run noproxy HTTPS_PROXY="http://127.0.0.1:1" NO_PROXY=127.0.0.1 "$PROXY"
[ "$rc" -eq 0 ] || fail "NO_PROXY did not bypass the proxy: exit $rc"
run noupstream HTTPS_PROXY="http://127.0.0.1:1" "$PROXY" --no-upstream-proxy
[ "$rc" -eq 0 ] || fail "--no-upstream-proxy did not bypass the proxy: exit $rc"
log "NO_PROXY and --no-upstream-proxy connect directly"
log "PASS"
