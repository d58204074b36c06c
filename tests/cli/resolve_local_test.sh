#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# --resolve-local end to end against the test hub (no root). The client runs in a user
# and mount namespace of its own (unshare, unprivileged) whose /etc/hosts also says
#   10.77.0.1 onlyhost.test db.corp.test hostonly.other.test
# names the hub's DNS does not know, pointing at the hub's LAN (10.77.0.1 = a web
# server and a UDP echo server on 127.0.0.1). With
#   --resolve-local onlyhost.test --resolve-local '*.corp.test'
#  - SOCKS5 (by name), SOCKS4a, the HTTP proxy, a -L TCP forward, a -L udp forward and
#    UDP ASSOCIATE reach onlyhost.test / db.corp.test: looked up on this host, then
#    connected THROUGH THE TUNNEL; -v says which resolver answered;
#  - intranet.test (no pattern) still goes to the tunnel's DNS;
#  - hostonly.other.test (in /etc/hosts, no pattern) is not looked up on the host: the
#    tunnel's DNS does not know it (SOCKS5 0x04, HTTP 502 "resolve");
#  - nothere.corp.test (pattern, unknown to the host) fails like a tunnel DNS failure:
#    SOCKS5 0x04 host unreachable, HTTP 502 naming the host lookup.
# Where unshare cannot make a namespace, the machine's own host name (which the host
# resolves, the hub does not) shows the host's answer was used: the connect goes to
# that address and fails there, not at the lookup.
# usage: resolve_local_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init resolve-local "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub
hl_http_start
WANT=$(cat "$HL_W/www/small.txt")
HTTP_PORT=${HL_URL##*:}

# want WHAT EXPECTED GOT
want() { [ "$2" = "$3" ] || hl_fail "$1: expected [$2], got [$3]"; }

# socks5_rep HOST PORT: the SOCKS5 reply code (hex) for CONNECT HOST:PORT by name.
socks5_rep() {
	"$HL_PY" - "$HL_SOCKS" "$1" "$2" <<'PY'
import socket, struct, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=15)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
n = sys.argv[2].encode()
s.sendall(b"\x05\x01\x00\x03" + bytes([len(n)]) + n + struct.pack(">H", int(sys.argv[3])))
r = s.recv(10)
print("%02x" % r[1] if len(r) >= 2 else "closed")
PY
}

# --- a namespace whose /etc/hosts knows names the hub's DNS does not
cat /etc/hosts >"$HL_W/hosts"
echo "10.77.0.1 onlyhost.test db.corp.test hostonly.other.test" >>"$HL_W/hosts"
chmod 644 "$HL_W/hosts"
NS=0
# shellcheck disable=SC2016 # $0 is expanded by the inner sh
if unshare --user --map-root-user --mount sh -c \
	'mount --bind "$0" /etc/hosts && getent hosts onlyhost.test' "$HL_W/hosts" \
	>"$HL_W/ns-check.txt" 2>&1 && grep -q 10.77.0.1 "$HL_W/ns-check.txt"; then
	NS=1
fi

if [ "$NS" = 1 ]; then
	REAL=$HL_PROXY_BIN
	cat >"$HL_W/in-ns.sh" <<EOF
#!/bin/sh
exec unshare --user --map-root-user --mount sh -c 'mount --bind "\$0" /etc/hosts && exec "\$@"' "$HL_W/hosts" "$REAL" "\$@"
EOF
	chmod 755 "$HL_W/in-ns.sh"
	HL_PROXY_BIN=$HL_W/in-ns.sh

	UDP_PORT=$(hl_free_port)
	"$HL_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
' "$UDP_PORT" >"$HL_W/echo.txt" 2>&1 &
	HL_PIDS+=($!)
	HTTP_P=127.0.0.1:$(hl_free_port)
	LT=$(hl_free_port)
	LU=$(hl_free_port)
	hl_proxy_start ns -v --connect-timeout 5 --http "$HTTP_P" \
		--resolve-local onlyhost.test --resolve-local '*.corp.test' \
		-L "127.0.0.1:$LT:onlyhost.test:$HTTP_PORT" \
		-L "udp:127.0.0.1:$LU:db.corp.test:$UDP_PORT"
	C=(curl -sS --max-time 20)
	want "SOCKS5 onlyhost.test" "$WANT" \
		"$("${C[@]}" --socks5-hostname "$HL_SOCKS" "http://onlyhost.test:$HTTP_PORT/small.txt")"
	want "SOCKS4a db.corp.test" "$WANT" \
		"$("${C[@]}" --socks4a "$HL_SOCKS" "http://db.corp.test:$HTTP_PORT/small.txt")"
	want "HTTP proxy onlyhost.test" "$WANT" \
		"$("${C[@]}" --proxy "http://$HTTP_P" "http://onlyhost.test:$HTTP_PORT/small.txt")"
	want "HTTP CONNECT db.corp.test" "$WANT" \
		"$("${C[@]}" --proxytunnel --proxy "http://$HTTP_P" "http://db.corp.test:$HTTP_PORT/small.txt")"
	want "-L to onlyhost.test" "$WANT" "$("${C[@]}" "http://127.0.0.1:$LT/small.txt")"
	grep -q "onlyhost.test is 10.77.0.1 (host resolver, --resolve-local)" "$HL_PROXY_LOG" ||
		hl_fail "-v does not say the host resolver answered for onlyhost.test"
	grep -q "resolving onlyhost.test on this host (--resolve-local)" "$HL_PROXY_LOG" ||
		hl_fail "-v does not say onlyhost.test went to the host resolver"
	hl_log "SOCKS5, SOCKS4a, HTTP, CONNECT, -L reach host-only names through the tunnel"

	# UDP: -L udp and UDP ASSOCIATE by name
	"$HL_PY" - "$HL_SOCKS" "$LU" "$UDP_PORT" <<'PY' || hl_fail "UDP to a --resolve-local name"
import os, socket, struct, sys, time
h, p = sys.argv[1].rsplit(":", 1)
LU, ECHO = int(sys.argv[2]), int(sys.argv[3])

def roundtrip(u, dest, dgram, check):
    for _ in range(5):
        u.sendto(dgram, dest)
        u.settimeout(2)
        try:
            d, _ = u.recvfrom(65535)
        except socket.timeout:
            continue
        if check(d):
            return
    sys.exit("no echo via %r" % (dest,))

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pl = os.urandom(64)
roundtrip(u, ("127.0.0.1", LU), pl, lambda d: d == pl)
t = socket.create_connection((h, int(p)), timeout=10)
t.sendall(b"\x05\x01\x00")
assert t.recv(2) == b"\x05\x00"
t.sendall(b"\x05\x03\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack(">H", 0))
r = t.recv(10)
if r[1] != 0:
    sys.exit("UDP ASSOCIATE refused 0x%02x" % r[1])
relay = (socket.inet_ntoa(r[4:8]), struct.unpack(">H", r[8:10])[0])
n = b"onlyhost.test"
roundtrip(u, relay, b"\x00\x00\x00\x03" + bytes([len(n)]) + n + struct.pack(">H", ECHO) + pl,
          lambda d: d[10:] == pl and d[4:8] == socket.inet_aton("10.77.0.1"))
PY
	grep -q "udp [0-9]*: resolving onlyhost.test on this host" "$HL_PROXY_LOG" ||
		hl_fail "UDP ASSOCIATE: no host lookup logged"
	hl_log "-L udp and UDP ASSOCIATE by name reach a --resolve-local name"

	# names outside the patterns go to the tunnel's DNS, even when the host knows them
	want "intranet.test via the tunnel" "$WANT" \
		"$("${C[@]}" --socks5-hostname "$HL_SOCKS" "$HL_URL/small.txt")"
	grep -q "resolving intranet.test through the tunnel's DNS" "$HL_PROXY_LOG" ||
		hl_fail "-v does not say intranet.test went to the tunnel's DNS"
	want "hostonly.other.test: not looked up on the host" 04 \
		"$(socks5_rep hostonly.other.test "$HTTP_PORT")"
	# a pattern name the host does not know: the replies of a DNS failure
	want "nothere.corp.test: SOCKS5 host unreachable" 04 \
		"$(socks5_rep nothere.corp.test "$HTTP_PORT")"
	code=$(curl -sS --max-time 20 -o "$HL_W/502.html" -w '%{http_code}' \
		--proxy "http://$HTTP_P" "http://nothere.corp.test:$HTTP_PORT/") || true
	want "nothere.corp.test: HTTP status" 502 "$code"
	grep -q "resolve nothere.corp.test:$HTTP_PORT on this host (--resolve-local)" "$HL_W/502.html" ||
		hl_fail "the 502 page does not name the host lookup: $(cat "$HL_W/502.html")"
	hl_log "names outside the patterns use the tunnel's DNS; host lookup failures: 0x04, 502"
	hl_proxy_stop
	HL_PROXY_BIN=$REAL
else
	hl_log "no user+mount namespace here (unshare failed): the /etc/hosts part is skipped"
fi

# --- without a namespace: this machine's own name, which the host resolves and the hub
# does not. With the pattern, the lookup succeeds on the host and the connect goes to
# the host's answer (through the tunnel, where the hub's NAT does not allow it).
ME=$(hostname)
ME_IP=$(getent ahostsv4 "$ME" | awk 'NR == 1 { print $1 }')
if [ -n "$ME_IP" ] && "$HL_PY" -c 'import sys; sys.exit(0 if len(sys.argv[1]) < 64 and "." not in sys.argv[1][-1:] else 1)' "$ME"; then
	hl_proxy_start me -v --connect-timeout 3 --resolve-local "$ME"
	rep=$(socks5_rep "$ME" "$HTTP_PORT")
	[ "$rep" != 00 ] || hl_fail "$ME: the hub let a connect to $ME_IP through"
	grep -q "$ME is $ME_IP (host resolver, --resolve-local)" "$HL_PROXY_LOG" ||
		hl_fail "$ME: the log does not show the host's answer $ME_IP"
	grep -q "connect $ME:$HTTP_PORT ($ME_IP)" "$HL_PROXY_LOG" ||
		hl_fail "$ME: the failure was not at the connect to $ME_IP"
	hl_proxy_stop
	hl_proxy_start me2 -v --connect-timeout 3
	want "$ME without --resolve-local: the hub's DNS does not know it" 04 \
		"$(socks5_rep "$ME" "$HTTP_PORT")"
	hl_proxy_stop
	hl_log "$ME: the host's answer ($ME_IP) with the pattern, the tunnel's DNS without"
fi
hl_log "PASS"
