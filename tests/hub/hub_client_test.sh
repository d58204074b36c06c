#!/bin/bash
# sevpn-proxy through sevpn-testhub, without root: login with a pinned certificate, DHCP
# lease from libslirp, a file from a local HTTP server fetched through SOCKS5 by name
# (intranet.test -> 10.77.0.1 -> 127.0.0.1 via slirp, sha256 compared), keep-alives keep an
# idle session up past the session timeout, an address outside the hub is unreachable,
# and a wrong password makes the client exit non-zero within 5 s.
# usage: hub_client_test.sh PATH/TO/sevpn-testhub PATH/TO/sevpn-proxy   (0 pass, 1 fail, 77 skip)
set -eu
HUB=${1:?usage: hub_client_test.sh SEVPN_TESTHUB SEVPN_PROXY}
PROXY=${2:?usage: hub_client_test.sh SEVPN_TESTHUB SEVPN_PROXY}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v python3) || { echo "SKIP: python3 not installed"; exit 77; }
for t in openssl curl sha256sum; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-hubcli.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	rc=$?
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in hub.log proxy.log proxy-bad.log httpd.log; do
			[ -s "$W/$f" ] || continue
			echo "----- tail of $f -----" >&2
			tail -n 30 "$W/$f" >&2
		done
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
log() { printf '[hub_client %3ss] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
alive() { kill -0 "$1" 2>/dev/null; }

FP=$("$HERE/mkcert.sh" "$W")
PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
TIMEOUT_MS=6000
SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 --user alice \
	--dns-name intranet.test=10.77.0.1 --dns-name v6.test=fd77::1 --timeout "$TIMEOUT_MS" -v >"$W/hub.out" 2>"$W/hub.log" &
HUB_PID=$!
PIDS+=("$HUB_PID")
for _ in $(seq 100); do
	grep -qs '^listening ' "$W/hub.out" && break
	alive "$HUB_PID" || fail "hub exited"
	sleep 0.1
done
PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) sha256=.*/\1/p' "$W/hub.out")
[ -n "$PORT" ] || fail "hub printed no listening line"
log "hub on 127.0.0.1:$PORT, pin $FP"

# A local web server: reachable from the hub's LAN as intranet.test (10.77.0.1 -> 127.0.0.1).
mkdir -p "$W/www"
head -c 4194304 /dev/urandom >"$W/www/file"
WANT=$(sha256sum "$W/www/file" | cut -d' ' -f1)
HTTP_PORT=$(free_port)
(cd "$W/www" && exec "$PY" -m http.server --bind 127.0.0.1 "$HTTP_PORT") >"$W/httpd.log" 2>&1 &
PIDS+=($!)

SOCKS_PORT=$(free_port)
SEVPN_PASSWORD=$PASS "$PROXY" --server "127.0.0.1:$PORT" --hub DEFAULT --user alice \
	--pin "$FP" --socks "127.0.0.1:$SOCKS_PORT" --connect-timeout 3 >"$W/proxy.out" 2>"$W/proxy.log" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
deadline=$((SECONDS + 20))
until grep -qs '^ready ' "$W/proxy.log"; do
	alive "$PROXY_PID" || fail "sevpn-proxy exited before it was ready"
	[ "$SECONDS" -lt "$deadline" ] || fail "sevpn-proxy not ready within 20 s"
	sleep 0.1
done
log "$(grep -m1 '^ready ' "$W/proxy.log")"
grep -q '^ready .* ip=10\.77\.0\.1[0-9][0-9]/24 gw=10\.77\.0\.1 dns=10\.77\.0\.1' "$W/proxy.log" ||
	fail "ready line does not show a lease from the hub's LAN"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done

got=$(curl -sS --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	"http://intranet.test:$HTTP_PORT/file" | sha256sum | cut -d' ' -f1) || fail "curl through SOCKS5 failed"
[ "$got" = "$WANT" ] || fail "sha256 $got, expected $WANT"
log "4 MiB from http://intranet.test:$HTTP_PORT/file through SOCKS5: sha256 ok"

# IPv6: SLAAC from the hub's router advertisements, AAAA from its DNS, fd77::1 -> ::1.
if "$PY" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	HTTP6_PORT=$(free_port)
	(cd "$W/www" && exec "$PY" -m http.server --bind ::1 "$HTTP6_PORT") >"$W/httpd6.log" 2>&1 &
	PIDS+=($!)
	deadline=$((SECONDS + 20))
	while :; do
		got=$(curl -sS --max-time 5 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
			"http://v6.test:$HTTP6_PORT/file" 2>/dev/null | sha256sum | cut -d' ' -f1) || got=
		[ "$got" = "$WANT" ] && break
		alive "$PROXY_PID" || fail "sevpn-proxy died"
		[ "$SECONDS" -lt "$deadline" ] || fail "no IPv6 fetch from v6.test (fd77::1) within 20 s"
		sleep 0.5
	done
	log "IPv6: http://v6.test:$HTTP6_PORT/file (AAAA fd77::1 -> ::1) through SOCKS5: sha256 ok"
else
	log "no IPv6 loopback here: IPv6 check skipped"
fi

# Idle past the session timeout: both sides' keep-alives must hold the session.
sleep $((TIMEOUT_MS / 1000 + 2))
alive "$PROXY_PID" || fail "sevpn-proxy died while idle"
got=$(curl -sS --max-time 30 --socks5-hostname "127.0.0.1:$SOCKS_PORT" \
	"http://intranet.test:$HTTP_PORT/file" | sha256sum | cut -d' ' -f1) || fail "curl after idle failed"
[ "$got" = "$WANT" ] || fail "after idle: sha256 $got"
[ "$(grep -c 'session for alice up' "$W/hub.log")" -eq 1 ] || fail "the session was re-established while idle"
log "idle $((TIMEOUT_MS / 1000 + 2)) s (> timeout): same session, fetch ok"

# The hub's LAN ends at its own addresses: nothing else is reachable.
if curl -sS --max-time 8 --socks5 "127.0.0.1:$SOCKS_PORT" "http://192.0.2.1/" >/dev/null 2>&1; then
	fail "192.0.2.1 was reachable through the hub"
fi
grep -q 'filter dropped' "$W/hub.log" || fail "the hub's filter logged nothing for 192.0.2.1"
if curl -sS --max-time 8 --socks5-hostname "127.0.0.1:$SOCKS_PORT" "http://example.com/" >/dev/null 2>&1; then
	fail "example.com resolved through the hub"
fi
log "192.0.2.1 unreachable (frames dropped by the hub), example.com not resolvable"
alive "$PROXY_PID" || fail "sevpn-proxy died"

# Wrong password: non-zero exit within 5 s.
BAD_SOCKS=$(free_port)
t0=$SECONDS
rc=0
SEVPN_PASSWORD=wrong-$PASS timeout 10 "$PROXY" --server "127.0.0.1:$PORT" --hub DEFAULT \
	--user alice --pin "$FP" --socks "127.0.0.1:$BAD_SOCKS" >/dev/null 2>"$W/proxy-bad.log" || rc=$?
el=$((SECONDS - t0))
[ "$rc" -ne 0 ] || fail "wrong password: exit status 0"
[ "$rc" -ne 124 ] || fail "wrong password: still running after 10 s"
[ "$el" -le 5 ] || fail "wrong password: exit took ${el}s"
grep -q 'login refused with error 9' "$W/hub.log" || fail "hub did not refuse with error 9"
log "wrong password: exit status $rc after ${el}s, hub sent error 9"

kill -TERM "$PROXY_PID"
for _ in $(seq 50); do alive "$PROXY_PID" || break; sleep 0.1; done
alive "$PROXY_PID" && fail "sevpn-proxy did not stop on SIGTERM"
log "PASS"
