#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SOCKS5 UDP ASSOCIATE and BIND end to end against the test hub (no root). A python3
# SOCKS5 UDP client (below) talks to a UDP echo server on 127.0.0.1, which the hub's LAN
# reaches as 10.77.0.1 and intranet.test:
#  - datagrams of 16, 1400 and 1472 bytes by address and by name come back intact, with
#    the header naming the echo server as their source; 8000 and 65497 bytes are taken
#    (the proxy survives) but not echoed: the hub drops IP fragments (tests/hub/frame.c),
#    so datagrams above one 1500-byte frame cannot cross it;
#  - a datagram with FRAG != 0 is dropped; one from another port of the client is dropped;
#  - closing the TCP control connection ends the association: the relay port no longer
#    answers;
#  - BIND: the first reply carries the lease address and a listening port; with nobody
#    connecting, the second reply is 0x06 (TTL expired) after the connect timeout.
#    (The hub cannot open connections into the tunnel, so an accepted BIND connection is
#    not tested end to end here.)
# usage: socks_udp_bind_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init socks-udp-bind "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub

ECHO_PORT=$(hl_free_port)
"$HL_PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65535)
    s.sendto(d, a)
' "$ECHO_PORT" >"$HL_W/echo.txt" 2>&1 &
HL_PIDS+=($!)

hl_proxy_start proxy -v --connect-timeout 3
S=$HL_SOCKS

cat >"$HL_W/client.py" <<'PY'
import os, socket, struct, sys, time

host, port = sys.argv[1].rsplit(":", 1)
SOCKS = (host, int(port))
ECHO = int(sys.argv[2])

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def recv_exact(t, n):
    b = b""
    while len(b) < n:
        c = t.recv(n - len(b))
        if not c:
            fail("control connection closed early (%d of %d bytes)" % (len(b), n))
        b += c
    return b

def request(cmd, atyp_addr, port):
    t = socket.create_connection(SOCKS, timeout=10)
    t.sendall(b"\x05\x01\x00")
    if recv_exact(t, 2) != b"\x05\x00":
        fail("method selection")
    t.sendall(b"\x05" + bytes([cmd]) + b"\x00" + atyp_addr + struct.pack(">H", port))
    return t

def read_reply(t):
    h = recv_exact(t, 4)
    if h[0] != 5:
        fail("reply version %d" % h[0])
    alen = {1: 4, 4: 16}.get(h[3])
    if alen is None:
        fail("reply ATYP %d" % h[3])
    a = recv_exact(t, alen + 2)
    ip = socket.inet_ntop(socket.AF_INET if alen == 4 else socket.AF_INET6, a[:alen])
    return h[1], ip, struct.unpack(">H", a[alen:])[0]

def hdr_ip(ip, port, frag=0):
    return b"\x00\x00" + bytes([frag]) + b"\x01" + socket.inet_aton(ip) + struct.pack(">H", port)

def hdr_name(name, port):
    n = name.encode()
    return b"\x00\x00\x00\x03" + bytes([len(n)]) + n + struct.pack(">H", port)

def exchange(u, relay, dgram, payload, tries=4):
    """Sends until the echo comes back; returns (src ip, src port) from its header."""
    for _ in range(tries):
        u.sendto(dgram, relay)
        deadline = time.time() + 2
        while time.time() < deadline:
            u.settimeout(max(0.05, deadline - time.time()))
            try:
                d, a = u.recvfrom(70000)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                break
            if a != relay:
                fail("answer from %r, not the relay %r" % (a, relay))
            if len(d) < 10 or d[:4] != b"\x00\x00\x00\x01":
                fail("answer header %r" % d[:10])
            if d[10:] == payload:
                return socket.inet_ntoa(d[4:8]), struct.unpack(">H", d[8:10])[0]
    fail("no echo of a %d-byte datagram" % len(payload))

def silent(u, relay, dgram, wait=1.5):
    u.sendto(dgram, relay)
    u.settimeout(wait)
    try:
        d, _ = u.recvfrom(70000)
    except (socket.timeout, ConnectionRefusedError):
        return True
    return False

# --- UDP ASSOCIATE: the client does not know its port yet (0.0.0.0:0)
t = request(3, b"\x01" + socket.inet_aton("0.0.0.0"), 0)
rep, bip, bport = read_reply(t)
if rep != 0:
    fail("UDP ASSOCIATE refused with 0x%02x" % rep)
if bip != "127.0.0.1" or bport == 0:
    fail("relay address %s:%d" % (bip, bport))
relay = (bip, bport)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
for n in (16, 1400, 1472):
    p = os.urandom(n)
    src = exchange(u, relay, hdr_ip("10.77.0.1", ECHO) + p, p)
    if src != ("10.77.0.1", ECHO):
        fail("echo source %r" % (src,))
    p = os.urandom(n)
    src = exchange(u, relay, hdr_name("intranet.test", ECHO) + p, p)
    if src != ("10.77.0.1", ECHO):
        fail("echo source by name %r" % (src,))
print("udp: 16, 1400, 1472 bytes by address and by name echoed", file=sys.stderr)
for n in (8000, 65497):  # fragmented on the tunnel: the hub drops them
    u.sendto(hdr_ip("10.77.0.1", ECHO) + os.urandom(n), relay)

if not silent(u, relay, hdr_ip("10.77.0.1", ECHO, frag=1) + b"fragment"):
    fail("a datagram with FRAG=1 was relayed")
other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
other.bind(("127.0.0.1", 0))
if not silent(other, relay, hdr_ip("10.77.0.1", ECHO) + b"from another port"):
    fail("a datagram from another port of the client was relayed")
p = b"still alive"
exchange(u, relay, hdr_ip("10.77.0.1", ECHO) + p, p)
print("udp: FRAG=1 dropped, other source port dropped", file=sys.stderr)

# --- the association dies with its control connection
t.close()
time.sleep(0.5)
if not silent(u, relay, hdr_ip("10.77.0.1", ECHO) + b"after close", wait=2):
    fail("the association outlived its control connection")
print("udp: association ended with the control connection", file=sys.stderr)

# --- a declared client port: only that port is accepted
u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u2.bind(("127.0.0.1", 0))
t2 = request(3, b"\x01" + socket.inet_aton("127.0.0.1"), u2.getsockname()[1])
rep, bip, bport = read_reply(t2)
if rep != 0:
    fail("second UDP ASSOCIATE refused 0x%02x" % rep)
relay2 = (bip, bport)
if not silent(u, relay2, hdr_ip("10.77.0.1", ECHO) + b"undeclared port"):
    fail("a datagram from an undeclared port was relayed")
p = b"declared"
exchange(u2, relay2, hdr_ip("10.77.0.1", ECHO) + p, p)
t2.close()
print("udp: declared port honoured", file=sys.stderr)

# --- BIND: first reply, then 0x06 when nobody connects within the connect timeout
t = request(2, b"\x01" + socket.inet_aton("0.0.0.0"), 0)
rep, bip, bport = read_reply(t)
if rep != 0 or not bip.startswith("10.77.0.") or bport == 0:
    fail("BIND first reply 0x%02x %s:%d" % (rep, bip, bport))
t0 = time.time()
t.settimeout(15)
rep, _, _ = read_reply(t)
if rep != 6:
    fail("BIND second reply 0x%02x, expected 0x06" % rep)
if t.recv(1) != b"":
    fail("BIND: the connection stayed open after the timeout reply")
print("bind: listening on %s:%d, 0x06 after %.1f s" % (bip, bport, time.time() - t0),
      file=sys.stderr)
PY
timeout 120 "$HL_PY" "$HL_W/client.py" "$S" "$ECHO_PORT" 2>"$HL_W/client.log" || {
	cat "$HL_W/client.log" >&2
	hl_fail "the SOCKS5 UDP/BIND client failed"
}
cat "$HL_W/client.log" >&2
hl_alive "$HL_PROXY_PID" || hl_fail "sevpn-proxy died"
grep -q "datagram dropped: fragment" "$HL_PROXY_LOG" || hl_fail "no log line for the dropped fragment"
hl_proxy_stop
hl_log "PASS"
