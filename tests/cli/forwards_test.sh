#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Port forwards and stdio end to end against the test hub (no root):
#  - -L TCP: curl http://127.0.0.1:LPORT/ reaches a web server that the hub's LAN sees
#    as intranet.test (the name resolved through the tunnel's DNS), twice at once;
#  - -L udp: a UDP echo server on 127.0.0.1, reached as 10.77.0.1 through the hub's
#    gateway, answers datagrams from two local clients (one mapping each), also of
#    4000 and 8000 bytes (IP fragments on the tunnel);
#  - a bad forward spec is refused with exit 2 and a message;
#  - SIGHUP (what ssh sends its ProxyCommand) stops in order, exit 0;
#  - started with SIGHUP ignored (nohup), SIGHUP leaves it running;
#  - --stdio without any listener: an HTTP request on stdin, the response on stdout,
#    a ready line "ready ip=..." (no listeners to name),
#    exit 0 once the server closed; a refused port exits non-zero;
#  - -R: the hub (--hostfwd) connects from its side to the client's tunnel address;
#    the connection reaches a local web server.
# usage: forwards_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init forwards "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub
hl_http_start
WANT=$(sha256sum "$HL_W/www/small.txt" | cut -d' ' -f1)
HTTP_PORT=${HL_URL##*:}

# UDP echo server on 127.0.0.1 (the hub maps 10.77.0.1 to it)
UDP_PORT=$(hl_free_port)
"$HL_PY" - "$UDP_PORT" >"$HL_W/udpecho.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    d, a = s.recvfrom(65535)
    s.sendto(b"echo:" + d, a)
PY
HL_PIDS+=($!)
for _ in $(seq 50); do grep -qs listening "$HL_W/udpecho.out" && break; sleep 0.1; done

# --- a bad spec: exit 2 with a message, nothing started
rc=0
"$HL_PROXY_BIN" --no-config --server 127.0.0.1:1 --user x -L 8080:intranet.test \
	--check-config >/dev/null 2>"$HL_W/bad.txt" || rc=$?
[ "$rc" -eq 2 ] || hl_fail "a bad -L spec: exit $rc, expected 2"
grep -q 'expected' "$HL_W/bad.txt" || hl_fail "a bad -L spec: no message ($(cat "$HL_W/bad.txt"))"

# --- -L TCP and -L udp
LT=$(hl_free_port)
LU=$(hl_free_port)
hl_proxy_start fwd -v --connect-timeout 5 -L "$LT:intranet.test:$HTTP_PORT" \
	-L "udp:127.0.0.1:$LU:10.77.0.1:$UDP_PORT"
grep -q "forward: -L 127.0.0.1:$LT:intranet.test:$HTTP_PORT on 127.0.0.1:$LT" "$HL_PROXY_LOG" ||
	hl_fail "-L TCP: no forward line in the log"
got1=$(curl -sS --max-time 20 "http://127.0.0.1:$LT/small.txt" | sha256sum | cut -d' ' -f1) &
p1=$!
got=$(curl -sS --max-time 20 "http://127.0.0.1:$LT/small.txt" | sha256sum | cut -d' ' -f1) || true
wait "$p1" || true
[ "$got" = "$WANT" ] || hl_fail "-L TCP: the page did not arrive through the forward"
hl_log "-L TCP: page fetched through 127.0.0.1:$LT"

"$HL_PY" - "$LU" >"$HL_W/udp-client.txt" 2>&1 <<'PY' || hl_fail "-L udp: $(cat "$HL_W/udp-client.txt")"
import os, socket, sys
port = int(sys.argv[1])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for i, s in enumerate(socks):
    s.settimeout(2.0)
    ok = False
    for attempt in range(5):  # the first datagram may race the mapping's ARP
        msg = ("hello %d.%d" % (i, attempt)).encode()
        s.sendto(msg, ("127.0.0.1", port))
        try:
            while True:
                d, _ = s.recvfrom(65535)
                if d == b"echo:" + msg:
                    ok = True
                    break
        except socket.timeout:
            pass
        if ok:
            break
    if not ok:
        sys.exit("client %d: no echo" % i)
big = b"x" * 1200  # a full-size datagram (under the tunnel MTU)
socks[0].sendto(big, ("127.0.0.1", port))
d, _ = socks[0].recvfrom(65535)
if d != b"echo:" + big:
    sys.exit("1200-byte datagram: wrong echo (%d bytes)" % len(d))
# larger than one frame: IP fragments on the tunnel both ways (the hub's filter passes
# them by their first fragment, slirp and lwIP reassemble)
for n in (4000, 8000):
    big = os.urandom(n)
    socks[1].sendto(big, ("127.0.0.1", port))
    d, _ = socks[1].recvfrom(65535)
    if d != b"echo:" + big:
        sys.exit("%d-byte datagram: wrong echo (%d bytes)" % (n, len(d)))
print("ok")
PY
hl_log "-L udp: two clients and datagrams of 1200, 4000 and 8000 bytes echoed"
# ssh ends its ProxyCommand with SIGHUP: an orderly stop like SIGTERM (lease released)
kill -HUP "$HL_PROXY_PID"
for _ in $(seq 50); do hl_alive "$HL_PROXY_PID" || break; sleep 0.1; done
hl_alive "$HL_PROXY_PID" && hl_fail "sevpn-proxy did not stop within 5 s of SIGHUP"
wait "$HL_PROXY_PID" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || hl_fail "sevpn-proxy exit status $rc after SIGHUP, expected 0"
grep -q "shutting down" "$HL_PROXY_LOG" || hl_fail "SIGHUP: no orderly shutdown in the log"
hl_log "SIGHUP: orderly stop, exit 0"
# ... unless it was started with SIGHUP ignored (nohup, or a shell's `trap '' HUP`):
# then it keeps running when its terminal goes away, as nohup means
LT2=$(hl_free_port)
trap '' HUP
hl_proxy_start nohup -v --connect-timeout 5 -L "$LT2:intranet.test:$HTTP_PORT"
trap - HUP
kill -HUP "$HL_PROXY_PID"
sleep 1
hl_alive "$HL_PROXY_PID" || hl_fail "sevpn-proxy started with SIGHUP ignored (nohup) stopped on SIGHUP"
grep -q "shutting down" "$HL_PROXY_LOG" && hl_fail "nohup: SIGHUP shut sevpn-proxy down"
got=$(curl -sS --max-time 20 "http://127.0.0.1:$LT2/small.txt" | sha256sum | cut -d' ' -f1) || true
[ "$got" = "$WANT" ] || hl_fail "nohup: the forward does not work after SIGHUP"
hl_proxy_stop
hl_log "SIGHUP ignored at start (nohup): still running and serving after SIGHUP"

# --- --stdio: no listener needed; the response on stdout; exit 0 when the server closes
STDIO_ARGS=(--no-config --server "127.0.0.1:$HL_HUB_PORT" --hub DEFAULT --user "$HL_USER"
	--pin "$HL_FP" --connect-timeout 5)
rc=0
printf 'GET /small.txt HTTP/1.0\r\nHost: intranet.test\r\n\r\n' |
	SEVPN_PASSWORD=$HL_PASS timeout 30 "$HL_PROXY_BIN" "${STDIO_ARGS[@]}" \
	--stdio "intranet.test:$HTTP_PORT" >"$HL_W/stdio.out" 2>"$HL_W/stdio.log" || rc=$?
[ "$rc" -eq 0 ] || hl_fail "--stdio: exit $rc, expected 0"
head -n1 "$HL_W/stdio.out" | grep -q '^HTTP/1.[01] 200' || hl_fail "--stdio: no HTTP 200 on stdout"
body=$(sed '1,/^\r$/d' "$HL_W/stdio.out" | sha256sum | cut -d' ' -f1)
[ "$body" = "$WANT" ] || hl_fail "--stdio: the body on stdout is wrong"
hl_log "--stdio: HTTP response on stdout, exit 0"
# no listeners: the ready line goes straight to the address, single-spaced
grep -q '^ready ip=[0-9.]*/[0-9]* gw=' "$HL_W/stdio.log" ||
	hl_fail "--stdio: ready line malformed: $(grep '^ready' "$HL_W/stdio.log")"
hl_log "--stdio: $(grep -m1 '^ready' "$HL_W/stdio.log")"

# a pipe for stdout too (as ssh gives it), and a refused port: non-zero exit
CLOSED=$(hl_free_port)
set +o pipefail
printf 'x' | SEVPN_PASSWORD=$HL_PASS timeout 30 "$HL_PROXY_BIN" "${STDIO_ARGS[@]}" \
	--stdio "intranet.test:$CLOSED" 2>"$HL_W/stdio-refused.log" | cat >/dev/null
rcs=("${PIPESTATUS[@]}")
rc=${rcs[1]}
set -o pipefail
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || hl_fail "--stdio to a closed port: exit $rc"
hl_log "--stdio: a refused connection exits $rc"

# --- -R: a fresh hub forwards 127.0.0.1:HF on this machine into its LAN to the first
# client's address (10.77.0.100:RP); the client relays it to the local web server.
HF=$(hl_free_port)
RP=$(hl_free_port)
hl_hub_start hubR --hostfwd "tcp:127.0.0.1:$HF-10.77.0.100:$RP"
hl_proxy_start rev -v --connect-timeout 5 -R "$RP:127.0.0.1:$HTTP_PORT"
case $HL_READY_LINE in
*ip=10.77.0.100/*) ;;
*) hl_fail "-R: the first client did not get 10.77.0.100 ($HL_READY_LINE)" ;;
esac
grep -q "peers on the hub's side connect to 10.77.0.100:$RP" "$HL_PROXY_LOG" ||
	hl_fail "-R: the address for remote peers was not logged"
got=$(curl -sS --max-time 20 "http://127.0.0.1:$HF/small.txt" | sha256sum | cut -d' ' -f1) || true
[ "$got" = "$WANT" ] || hl_fail "-R: the page did not arrive from the hub's side"
hl_proxy_stop
hl_log "-R: the hub's side fetched a local page through the reverse forward"
hl_log "PASS"
