#!/bin/bash
# The whole product in one command, as an ordinary user, without root and without a real
# VPN server: starts the project's SoftEther test hub (sevpn-testhub, a libslirp-backed
# Virtual Hub) on loopback, a small web server on 127.0.0.1, and sevpn-proxy against the
# hub; fetches the demo page through the proxy's SOCKS5 port by the name intranet.test
# (resolved by the hub's DNS to its gateway 10.77.0.1, which libslirp maps to 127.0.0.1)
# and shows how to use the proxy. Everything it started is stopped on exit or Ctrl-C.
#
# usage: scripts/demo.sh [--once]
#   --once   exit after showing the page (default when stdin is not a terminal);
#            otherwise the proxy stays up until Ctrl-C so you can try it yourself
# Environment: SEVPN_BUILD_DIR (default build/plain), DEMO_SOCKS_PORT (default 1080 when
# free, else any free port).
#
# Build dependencies missing? The script runs scripts/install-deps.sh, which needs root
# or sudo (apt-get); the demo itself never does. sevpn-proxy has no implicit demo mode:
# this script is the only thing that starts the test hub.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEVPN_BUILD_DIR:-$ROOT/build/plain}
ONCE=0
[ "${1:-}" = "--once" ] && ONCE=1
[ -t 0 ] || ONCE=1

say() {
	if [ -t 2 ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

# --- dependencies and build ------------------------------------------------------------
missing_deps() {
	local m=
	for t in cmake cc pkg-config openssl curl python3 sha256sum; do
		command -v "$t" >/dev/null 2>&1 || m="$m $t"
	done
	pkg-config --exists libuv 2>/dev/null || m="$m libuv"
	for h in bearssl.h slirp/libslirp.h cmocka.h zlib.h; do
		[ -e "/usr/include/$h" ] || [ -e "/usr/local/include/$h" ] || m="$m $h"
	done
	printf '%s' "$m"
}

m=$(missing_deps)
if [ -n "$m" ]; then
	say "missing build dependencies:$m"
	if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; then
		say "installing them with scripts/install-deps.sh (apt-get; needs root or sudo)"
		"$ROOT/scripts/install-deps.sh" || die "scripts/install-deps.sh failed"
	else
		die "install them first (as root: $ROOT/scripts/install-deps.sh), then run this again"
	fi
fi

if [ ! -x "$BUILD/sevpn-proxy" ] || [ ! -x "$BUILD/tests/hub/sevpn-testhub" ]; then
	say "building into $BUILD"
	cmake -S "$ROOT" -B "$BUILD" >/dev/null || die "cmake configure failed"
	cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target sevpn-proxy sevpn-testhub \
		>/dev/null || die "build failed (run: cmake --build $BUILD)"
fi
PROXY=$BUILD/sevpn-proxy
HUB=$BUILD/tests/hub/sevpn-testhub
[ -x "$PROXY" ] || die "$PROXY was not built"
[ -x "$HUB" ] || die "$HUB was not built (is libslirp-dev installed?)"

# --- run ---------------------------------------------------------------------------------
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-demo.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
	done
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	rm -rf "$W"
	[ "$rc" -eq 130 ] && rc=0
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
alive() { kill -0 "$1" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
show_log() {
	[ -s "$1" ] && { echo "----- $2 -----" >&2; tail -n 20 "$1" >&2; }
	return 0
}

say "making a throw-away certificate for the hub"
PIN=$("$ROOT/tests/hub/mkcert.sh" "$W")
PASS="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

say "starting sevpn-testhub on 127.0.0.1 (user demo, hub DEFAULT)"
SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 --user demo \
	>"$W/hub.out" 2>"$W/hub.log" &
PIDS+=($!)
for _ in $(seq 100); do
	grep -qs '^listening ' "$W/hub.out" && break
	alive "${PIDS[0]}" || { show_log "$W/hub.log" hub; die "the hub exited"; }
	sleep 0.1
done
HUB_ADDR=$(sed -n 's/^listening \([^ ]*\) sha256=.*/\1/p' "$W/hub.out")
[ -n "$HUB_ADDR" ] || die "the hub did not start"
echo "    hub: $HUB_ADDR, certificate sha256 $PIN" >&2

HTTP_PORT=$(free_port)
mkdir -p "$W/www"
cat >"$W/www/index.html" <<EOF
<!doctype html>
<title>sevpn-proxy demo</title>
<h1>Hello through the VPN!</h1>
<p>This page lives on 127.0.0.1:$HTTP_PORT. You fetched it as http://intranet.test:$HTTP_PORT/
through sevpn-proxy's SOCKS5 port, a TLS SoftEther session to the test hub, and the hub's
LAN (DHCP lease, DNS name, gateway 10.77.0.1 = this machine's loopback).</p>
EOF
say "starting a web server on 127.0.0.1:$HTTP_PORT (seen from the VPN as intranet.test:$HTTP_PORT)"
(cd "$W/www" && exec python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT") >"$W/httpd.log" 2>&1 &
PIDS+=($!)

SOCKS_PORT=${DEMO_SOCKS_PORT:-1080}
port_free "$SOCKS_PORT" || SOCKS_PORT=$(free_port)
say "starting sevpn-proxy --server $HUB_ADDR --hub DEFAULT --user demo --pin <sha256> --socks 127.0.0.1:$SOCKS_PORT"
SEVPN_PASSWORD=$PASS "$PROXY" --server "$HUB_ADDR" --hub DEFAULT --user demo --pin "$PIN" \
	--socks "127.0.0.1:$SOCKS_PORT" >"$W/proxy.out" 2>"$W/proxy.log" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
deadline=$((SECONDS + 20))
until grep -qs '^ready ' "$W/proxy.log"; do
	alive "$PROXY_PID" || { show_log "$W/proxy.log" sevpn-proxy; die "sevpn-proxy exited"; }
	[ "$SECONDS" -lt "$deadline" ] || { show_log "$W/proxy.log" sevpn-proxy; die "sevpn-proxy not ready in 20 s"; }
	sleep 0.1
done
echo "    $(grep -m1 '^ready ' "$W/proxy.log")" >&2
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done

URL="http://intranet.test:$HTTP_PORT/"
say "curl --socks5-hostname 127.0.0.1:$SOCKS_PORT $URL"
curl -sS --max-time 20 --socks5-hostname "127.0.0.1:$SOCKS_PORT" "$URL" ||
	{ show_log "$W/proxy.log" sevpn-proxy; show_log "$W/hub.log" hub; die "the fetch through the proxy failed"; }

cat >&2 <<EOF

It works. sevpn-proxy is serving the hub's network as a SOCKS5 proxy on 127.0.0.1:$SOCKS_PORT:
    curl --socks5-hostname 127.0.0.1:$SOCKS_PORT $URL
    ALL_PROXY=socks5h://127.0.0.1:$SOCKS_PORT curl $URL
(socks5h / --socks5-hostname lets the proxy resolve names through the VPN's DNS.)
Against a real SoftEther server:
    sevpn-proxy --server vpn.example.com --hub HUB --user NAME --pin SHA256 --socks 1080
EOF
if [ "$ONCE" -eq 1 ]; then
	exit 0
fi
echo "Press Ctrl-C to stop the demo (hub, web server and proxy)." >&2
while alive "$PROXY_PID" && alive "${PIDS[0]}"; do
	# a builtin wait returns at once when a signal arrives, so the trap runs promptly
	sleep 1 &
	wait $! || true
done
show_log "$W/proxy.log" sevpn-proxy
die "a demo process stopped unexpectedly"
