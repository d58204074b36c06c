#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Reaching the server through an upstream proxy, against the test hub (no root): an
# HTTP CONNECT proxy and a SOCKS5 proxy, each with credentials (tests/cli/upstream_proxy.py),
# given by --upstream-proxy and by HTTPS_PROXY; a wrong proxy password ends at once with
# a message naming the proxy (exit 2); NO_PROXY and --no-upstream-proxy bypass it.
# usage: upstream_proxy_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init upstream "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
wait_line() { # FILE PATTERN PID
	for _ in $(seq 100); do
		grep -qs "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

hl_hub_start hub
PORT=$HL_HUB_PORT
W=$HL_W
for kind in http socks5; do
	"$HL_PY" "$HERE/upstream_proxy.py" "$kind" "pu:s3cret word" >"$W/$kind.out" 2>"$W/$kind-proxy.log" &
	HL_PIDS+=($!)
	wait_line "$W/$kind.out" '^listening ' "${HL_PIDS[-1]}" || hl_fail "$kind proxy did not start"
done
HTTP_P=$(sed -n 's/^listening //p' "$W/http.out")
SOCKS_P=$(sed -n 's/^listening //p' "$W/socks5.out")

# run NAME [ENV=...] -- ARGS: the client in exec mode with `true`; sets rc
run() {
	local name=$1
	shift
	rc=0
	env SEVPN_PASSWORD="$HL_PASS" "$@" --server "127.0.0.1:$PORT" --hub DEFAULT --user alice \
		--pin "$HL_FP" --no-config --socks "127.0.0.1:$(hl_free_port)" -- true 2>"$W/$name.log" || rc=$?
}

run http-opt "$HL_PROXY_BIN" --upstream-proxy "http://pu:s3cret%20word@127.0.0.1:$HTTP_P"
[ "$rc" -eq 0 ] || hl_fail "through the HTTP CONNECT proxy: exit $rc"
grep -q "CONNECT 127.0.0.1:$PORT: 200" "$W/http-proxy.log" || hl_fail "the HTTP proxy saw no CONNECT"
run socks-env HTTPS_PROXY="socks5://pu:s3cret%20word@127.0.0.1:$SOCKS_P" "$HL_PROXY_BIN"
[ "$rc" -eq 0 ] || hl_fail "through the SOCKS5 proxy from HTTPS_PROXY: exit $rc"
grep -q "SOCKS5 127.0.0.1:$PORT: ok" "$W/socks5-proxy.log" || hl_fail "the SOCKS5 proxy saw no CONNECT"
hl_log "logged in through an HTTP CONNECT proxy (option) and a SOCKS5 proxy (HTTPS_PROXY)"

run http-badpw "$HL_PROXY_BIN" --upstream-proxy "http://pu:wrong@127.0.0.1:$HTTP_P"
[ "$rc" -eq 125 ] || hl_fail "wrong HTTP proxy password: exit $rc, expected 125 (exec mode, no tunnel)"
grep -qi "upstream proxy" "$W/http-badpw.log" || hl_fail "the message does not name the proxy"
grep -q "wrong" "$W/http-badpw.log" && hl_fail "the proxy password appears in the log"
run socks-badpw "$HL_PROXY_BIN" --upstream-proxy "socks5://pu:wrong@127.0.0.1:$SOCKS_P"
[ "$rc" -eq 125 ] || hl_fail "wrong SOCKS5 proxy password: exit $rc"
grep -qi "upstream proxy" "$W/socks-badpw.log" || hl_fail "the SOCKS5 message does not name the proxy"
n=$(grep -c "attempt\|reconnecting" "$W/http-badpw.log" || true)
[ "$n" -eq 0 ] || hl_fail "a refused proxy login was retried"
hl_log "wrong proxy credentials: refused at once, the message names the proxy, no password in it"

# bypasses: NO_PROXY for the server's host, and --no-upstream-proxy
run noproxy HTTPS_PROXY="http://127.0.0.1:1" NO_PROXY=127.0.0.1 "$HL_PROXY_BIN"
[ "$rc" -eq 0 ] || hl_fail "NO_PROXY did not bypass the proxy: exit $rc"
run noupstream HTTPS_PROXY="http://127.0.0.1:1" "$HL_PROXY_BIN" --no-upstream-proxy
[ "$rc" -eq 0 ] || hl_fail "--no-upstream-proxy did not bypass the proxy: exit $rc"
hl_log "NO_PROXY and --no-upstream-proxy connect directly"
hl_log "PASS"
