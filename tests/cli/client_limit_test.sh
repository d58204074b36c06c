#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# --max-conns-per-client end to end against the test hub (no root), limit 2:
#  - two SOCKS5 connections from 127.0.0.1 held open to the hub's web server; a third
#    from 127.0.0.1 is refused with the protocol's answer: SOCKS5 0x02 (not allowed by
#    ruleset), SOCKS4a 0x5B, HTTP 429 with a body naming the option;
#  - another client address (127.0.0.2) still gets through;
#  - the refusals give ONE warning line (rate-limited) naming the limit, the client and
#    the option; nothing about it from lwIP;
#  - once a held connection closes, the client connects again (recovered);
#  - SOCKS5 UDP ASSOCIATE and BIND hold resources without a target and count too: past
#    the limit they get 0x02; an association and a waiting BIND fill the two slots, so a
#    CONNECT is refused, and ending the association frees its slot.
# usage: client_limit_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init client-limit "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub
hl_http_start
HTTP_PORT=${HL_URL##*:}
HTTP_P=127.0.0.1:$(hl_free_port)
hl_proxy_start limit --connect-timeout 5 --max-conns-per-client 2 --http "$HTTP_P"

"$HL_PY" - "$HL_SOCKS" "$HTTP_P" "$HTTP_PORT" "$HL_PROXY_LOG" >"$HL_W/client.txt" 2>&1 <<'PY' ||
import socket, struct, sys, time
h, p = sys.argv[1].rsplit(":", 1)
SOCKS = (h, int(p))
hh, hp = sys.argv[2].rsplit(":", 1)
HTTP = (hh, int(hp))
PORT = int(sys.argv[3])
LOG = sys.argv[4]

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

def recv_some(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            break
        b += c
    return b

def socks5(src="127.0.0.1"):
    s = socket.socket()
    s.settimeout(15)
    s.bind((src, 0))
    s.connect(SOCKS)
    s.sendall(b"\x05\x01\x00")
    if recv_some(s, 2) != b"\x05\x00":
        fail("method selection")
    n = b"intranet.test"
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(n)]) + n + struct.pack(">H", PORT))
    r = recv_some(s, 10)
    if len(r) < 2:
        fail("SOCKS5: closed without a reply")
    return s, r[1]

def socks4a():
    s = socket.create_connection(SOCKS, timeout=15)
    s.sendall(b"\x04\x01" + struct.pack(">H", PORT) + b"\x00\x00\x00\x01" + b"u\x00" +
              b"intranet.test\x00")
    r = recv_some(s, 8)
    s.close()
    return r[1] if len(r) == 8 else -1

def socks5_cmd(cmd):
    """UDP ASSOCIATE (3) or BIND (2) from 127.0.0.1: (socket, first reply code)."""
    s = socket.create_connection(SOCKS, timeout=15)
    s.sendall(b"\x05\x01\x00")
    if recv_some(s, 2) != b"\x05\x00":
        fail("method selection")
    addr = b"\x00\x00\x00\x00" if cmd == 3 else b"\x0a\x4d\x00\x01"
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00\x01" + addr + b"\x00\x00")
    r = recv_some(s, 10)
    return s, (r[1] if len(r) == 10 else -1)

def http_get():
    s = socket.create_connection(HTTP, timeout=15)
    s.sendall(b"GET http://intranet.test:%d/small.txt HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n" % PORT)
    d = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
    s.close()
    return d.decode("latin-1")

def fetch_on(s):
    s.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
    d = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        d += c
    s.close()
    return d

held = []
for i in range(2):
    s, rep = socks5()
    if rep != 0:
        fail("held connection %d refused with 0x%02x" % (i + 1, rep))
    held.append(s)
s, rep = socks5()
if rep != 0x02:
    fail("third SOCKS5 connection: reply 0x%02x, expected 0x02" % rep)
s.close()
rep = socks4a()
if rep != 0x5B:
    fail("SOCKS4a past the limit: reply %r, expected 0x5b" % rep)
resp = http_get()
if not resp.startswith("HTTP/1.1 429 ") or "--max-conns-per-client" not in resp:
    fail("HTTP past the limit: %r" % resp[:300])
for cmd, name in ((3, "UDP ASSOCIATE"), (2, "BIND")):
    s, rep = socks5_cmd(cmd)
    s.close()
    if rep != 0x02:
        fail("%s past the limit: reply 0x%02x, expected 0x02" % (name, rep))
print("refused: SOCKS5 0x02, SOCKS4a 0x5b, HTTP 429, UDP ASSOCIATE and BIND 0x02")
with open(LOG, errors="replace") as f:
    n = f.read().count("the limit (--max-conns-per-client 2)")
if n != 1:
    fail("expected one (rate-limited) warning for five refusals, got %d" % n)
try:
    s, rep = socks5("127.0.0.2")
except OSError as e:
    s, rep = None, None
    print("127.0.0.2 not usable here (%s): skipped" % e)
if rep is not None:
    if rep != 0:
        fail("another client address refused with 0x%02x" % rep)
    if b"hello through the hub" not in fetch_on(s):
        fail("another client address: no page")
    print("127.0.0.2: served while 127.0.0.1 is at its limit")
# recovery: one held connection ends, the next one is served
if b"hello through the hub" not in fetch_on(held.pop()):
    fail("held connection: no page")
for _ in range(50):
    s, rep = socks5()
    if rep == 0:
        break
    s.close()
    time.sleep(0.1)  # the proxy frees the slot when the closed conn is released
if rep != 0:
    fail("after a connection closed: still refused (0x%02x)" % rep)
if b"hello through the hub" not in fetch_on(s):
    fail("after recovery: no page")
print("recovered: served again after one connection closed")
# an association and a waiting BIND take the two slots
held[0].close()
u, b = None, None
for _ in range(50):
    u, rep = socks5_cmd(3)
    if rep == 0:
        break
    u.close()
    time.sleep(0.1)
if rep != 0:
    fail("UDP ASSOCIATE with free slots: reply 0x%02x" % rep)
for _ in range(50):  # the second closed connection frees its slot a moment later
    b, rep = socks5_cmd(2)
    if rep == 0:
        break
    b.close()
    time.sleep(0.1)
if rep != 0:
    fail("BIND with one free slot: reply 0x%02x" % rep)
s, rep = socks5()
s.close()
if rep != 0x02:
    fail("CONNECT while an association and a BIND hold both slots: reply 0x%02x" % rep)
u.close()  # ends the association: its slot comes back
for _ in range(50):
    s, rep = socks5()
    if rep == 0:
        break
    s.close()
    time.sleep(0.1)
if rep != 0:
    fail("after the association ended: still refused (0x%02x)" % rep)
if b"hello through the hub" not in fetch_on(s):
    fail("after the association ended: no page")
b.close()
print("UDP ASSOCIATE and BIND count: CONNECT refused while they hold both slots, served after")
PY
	hl_fail "$(cat "$HL_W/client.txt")"
while read -r line; do hl_log "$line"; done <"$HL_W/client.txt"

grep -q "warn: socks: conn [0-9]*: socks5: client 127.0.0.1 already has 2 proxied connections, the limit (--max-conns-per-client 2): refusing intranet.test:$HTTP_PORT; raise --max-conns-per-client" "$HL_PROXY_LOG" ||
	hl_fail "the warning does not name the client, the limit and the option: $(grep max-conns "$HL_PROXY_LOG")"
! grep -qi "lwip\|out of memory" "$HL_PROXY_LOG" || hl_fail "lwIP or memory complaints in the log"
hl_proxy_stop
hl_log "PASS"
