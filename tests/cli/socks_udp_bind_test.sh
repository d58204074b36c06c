#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# SOCKS5 UDP ASSOCIATE and BIND end to end against the test hub (no root). A python3
# SOCKS5 UDP client (below) talks to a UDP echo server on 127.0.0.1, which the hub's LAN
# reaches as 10.77.0.1 and intranet.test:
#  - datagrams of 16, 1400 and 1472 bytes by address and by name come back intact, with
#    the header naming the echo server as their source; so do 4000, 8000 and 65497 bytes
#    (65497: the most a SOCKS5 datagram over IPv4 loopback carries), which cross the
#    tunnel as IP fragments (lwIP fragments and reassembles, the hub's filter passes
#    fragments by their first fragment's verdict, slirp reassembles);
#  - over a second listener on [::1] (when the machine has IPv6 loopback): 65507 bytes,
#    the relay's limit (a 65535-byte IPv4 datagram on the tunnel), are echoed; 65508 are
#    dropped with a log line and the association goes on;
#  - a datagram with FRAG != 0 is dropped; one from another port of the client is dropped;
#  - closing the TCP control connection ends the association: the relay port no longer
#    answers;
#  - BIND accepted: the first reply names the lease address and a listening port; the
#    test asks the hub (its --control socket) to forward a local port there, connects,
#    and gets the second reply naming the peer (the hub's gateway 10.77.0.1, which the
#    request's DST.ADDR named as the expected peer); 300000 bytes go to the peer and
#    200000 come back, each side half-closes in turn;
#  - BIND with DST.ADDR 10.77.0.9: the connection from 10.77.0.1 is refused (reset, log
#    line) and the BIND keeps waiting until the timeout reply 0x06 (RFC 1928: DST.ADDR
#    is the expected peer; 0.0.0.0 accepts anyone);
#  - BIND with nobody connecting: the second reply is 0x06 (TTL expired) after the
#    connect timeout.
# usage: socks_udp_bind_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init socks-udp-bind "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub --control "$HL_W/hub.ctl"

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

# a second SOCKS listener on IPv6 loopback, which carries datagrams above the tunnel's
# limit (for the oversize check), when this machine has ::1
S6_PORT=0
S6_ARGS=()
if "$HL_PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	S6_PORT=$(hl_free_port)
	S6_ARGS=(--socks "[::1]:$S6_PORT")
else
	hl_log "no IPv6 loopback: the oversize datagram check is skipped"
fi
hl_proxy_start proxy -v --connect-timeout 3 "${S6_ARGS[@]}"
S=$HL_SOCKS

cat >"$HL_W/client.py" <<'PY'
import os, socket, struct, sys, time

host, port = sys.argv[1].rsplit(":", 1)
SOCKS = (host, int(port))
ECHO = int(sys.argv[2])
SOCKS6 = ("::1", int(sys.argv[3])) if sys.argv[3] != "0" else None
CONTROL = sys.argv[4]

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

def request(cmd, atyp_addr, port, socks=SOCKS):
    t = socket.create_connection(socks, timeout=10)
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
            if a[:2] != relay[:2]:
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
# Above 1472 bytes the datagram crosses the tunnel as IP fragments (lwIP IP_FRAG), which
# the hub's filter passes by their first fragment and slirp reassembles; the echo comes
# back fragmented by slirp and is reassembled by lwIP (IP_REASSEMBLY). 65497 bytes is
# the most a SOCKS5 datagram over IPv4 loopback can carry (65507 minus the header).
for n in (4000, 8000, 65497):
    p = os.urandom(n)
    src = exchange(u, relay, hdr_ip("10.77.0.1", ECHO) + p, p)
    if src != ("10.77.0.1", ECHO):
        fail("echo source %r of a %d-byte datagram" % (src, n))
p = os.urandom(4000)
exchange(u, relay, hdr_name("intranet.test", ECHO) + p, p)
print("udp: 4000, 8000, 65497 bytes (fragmented on the tunnel) echoed, 4000 by name too",
      file=sys.stderr)

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

# --- the relay's limit, over IPv6 loopback (which carries larger datagrams than the
# tunnel): a 65507-byte payload (a 65535-byte IPv4 datagram on the tunnel) is echoed,
# 65508 is dropped ("too large") and the association goes on.
if SOCKS6 is not None:
    t6 = request(3, b"\x01" + socket.inet_aton("0.0.0.0"), 0, socks=SOCKS6)
    rep, bip, bport = read_reply(t6)
    if rep != 0 or bip != "::1":
        fail("UDP ASSOCIATE over IPv6: 0x%02x %s:%d" % (rep, bip, bport))
    relay6 = (bip, bport)
    u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u6.bind(("::1", 0))
    u6.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    p = os.urandom(65507)
    exchange(u6, relay6, hdr_ip("10.77.0.1", ECHO) + p, p)
    if not silent(u6, relay6, hdr_ip("10.77.0.1", ECHO) + os.urandom(65508)):
        fail("a 65508-byte datagram was relayed")
    p = b"after the oversized one"
    exchange(u6, relay6, hdr_ip("10.77.0.1", ECHO) + p, p)
    t6.close()
    print("udp: 65507 bytes (the limit) echoed, 65508 dropped, the association lives on",
          file=sys.stderr)

# --- BIND accepted: the hub opens a path to the announced port at run time (its control
# socket), connects through it, and data flows both ways over the SOCKS connection.
def hub_forward(ip, port):
    """Asks the hub to forward a free local port to ip:port on its LAN; returns it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    hf = s.getsockname()[1]
    s.close()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(CONTROL)
    c.sendall(("hostfwd tcp:127.0.0.1:%d-%s:%d\n" % (hf, ip, port)).encode())
    ans = c.makefile("rb").readline()
    c.close()
    if ans != b"ok\n":
        fail("hub control: %r" % ans)
    return hf

# the control socket refuses what it does not understand, with a line, and goes on
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(10)
c.connect(CONTROL)
cf = c.makefile("rb")
for line, want in ((b"bogus\n", b"error: unknown command"),
                   (b"hostfwd tcp:127.0.0.1:1-10.77.0.100\n", b"error: expected"),
                   (b"hostfwd udp:127.0.0.1:1-10.77.0.100:1\n", b"error: expected"),
                   (b"x" * 256, b"error: line too long")):  # the hub's line buffer
    c.sendall(line)
    ans = cf.readline()
    if not ans.startswith(want):
        fail("hub control: %r answered %r" % (line[:40], ans))
try:
    rest = cf.readline()
except ConnectionResetError:
    rest = b""
if rest != b"":
    fail("hub control: still open after a line too long")
c.close()
print("control: bad commands and a long line refused", file=sys.stderr)

def recv_all(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(min(65536, n - len(b)))
        if not c:
            break
        b += c
    return b

# DST.ADDR names the expected peer (RFC 1928): the hub's side connects from 10.77.0.1.
t = request(2, b"\x01" + socket.inet_aton("10.77.0.1"), 0)
rep, bip, bport = read_reply(t)
if rep != 0 or not bip.startswith("10.77.0.") or bport == 0:
    fail("BIND first reply 0x%02x %s:%d" % (rep, bip, bport))
hf = hub_forward(bip, bport)
peer = socket.create_connection(("127.0.0.1", hf), timeout=10)
t.settimeout(10)
rep, pip, pport = read_reply(t)
if rep != 0 or pip != "10.77.0.1" or pport == 0:
    fail("BIND second reply 0x%02x %s:%d" % (rep, pip, pport))
up, down = os.urandom(200000), os.urandom(300000)
peer.sendall(down)
if recv_all(t, len(down)) != down:
    fail("BIND: the peer's bytes did not arrive intact")
t.sendall(up)
if recv_all(peer, len(up)) != up:
    fail("BIND: the client's bytes did not reach the peer intact")
peer.shutdown(socket.SHUT_WR)  # the peer closes first: EOF at the client, which can
if t.recv(1) != b"":           # still send (half close), then closes too
    fail("BIND: no EOF after the peer closed")
t.sendall(b"last words")
if recv_all(peer, 10) != b"last words":
    fail("BIND: bytes after the peer's half close were lost")
t.shutdown(socket.SHUT_WR)
if peer.recv(1) != b"":
    fail("BIND: the peer saw no EOF after the client closed")
peer.close()
t.close()
print("bind: %s:%d accepted the expected peer %s:%d; 200000 B down, 300000 B up, "
      "half close both ways" % (bip, bport, pip, pport), file=sys.stderr)

# Another peer than DST.ADDR is refused (reset) and BIND keeps waiting, then times out.
t = request(2, b"\x01" + socket.inet_aton("10.77.0.9"), 0)
rep, bip, bport = read_reply(t)
if rep != 0 or bport == 0:
    fail("BIND (expecting 10.77.0.9) first reply 0x%02x %s:%d" % (rep, bip, bport))
hf = hub_forward(bip, bport)
intruder = socket.create_connection(("127.0.0.1", hf), timeout=10)
try:
    intruder.sendall(b"let me in")
    got = intruder.recv(1)
except (ConnectionResetError, BrokenPipeError):
    got = b""
if got != b"":
    fail("BIND: a peer other than DST.ADDR got data %r" % got)
t.settimeout(15)
rep, _, _ = read_reply(t)
if rep != 6:
    fail("BIND with the wrong peer: second reply 0x%02x, expected 0x06" % rep)
t.close()
print("bind: a peer other than DST.ADDR was refused; 0x06 at the timeout", file=sys.stderr)

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
timeout 120 "$HL_PY" "$HL_W/client.py" "$S" "$ECHO_PORT" "$S6_PORT" "$HL_W/hub.ctl" \
	2>"$HL_W/client.log" || {
	cat "$HL_W/client.log" >&2
	hl_fail "the SOCKS5 UDP/BIND client failed"
}
cat "$HL_W/client.log" >&2
hl_alive "$HL_PROXY_PID" || hl_fail "sevpn-proxy died"
hl_alive "$HL_HUB_PID" || hl_fail "the hub died"
grep -q "datagram dropped: fragment" "$HL_PROXY_LOG" || hl_fail "no log line for the dropped fragment"
if [ "$S6_PORT" != 0 ]; then
	grep -q "datagram dropped: too large" "$HL_PROXY_LOG" ||
		hl_fail "no log line for the oversized datagram"
fi
grep -q "BIND: connection from 10.77.0.1 refused (not the requested peer)" "$HL_PROXY_LOG" ||
	hl_fail "no log line for the refused BIND peer"
hl_proxy_stop
hl_log "PASS"
