#!/usr/bin/env python3
"""Scripted SoftEther client for the test hub's self-test (stdlib only).

usage: hub_probe.py HOST PORT SHA256 SCENARIO
Scenarios (each prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and exits 1):
  handshake   certificate pin, HTTP details of the signature step (403/404), hello fields
  logins      error PACKs: unknown hub 8, wrong plain password 9, anonymous for a password
              user 9, unknown method 4, HTTP/1.0 3, wrong content type 3
  data        plain-password login, welcome fields, keep-alive from the hub, DHCP offer
              (DNS option = gateway), DNS answers from the table, ARP for the gateway
  idle        anonymous login, then silence: the hub must close within timeout + 3 s
  fault_drop  against a hub with --fault-drop-after-ms 500 --fault-drop-rst: RST after ~0.5 s;
              with HUB_FAULT_LOGIN=N set and --fault-login-error N: login refused with N
  additional  additional_connect (spec 12): login asking max_connection 2, two more
              connections attach (max + 1), the next gets 15, an unknown key 13, a
              19-byte key 4; a DHCP discover sent on an additional connection is answered
              in the session; after an abrupt close of the login connection the others
              stay and a re-attach works
  kill_session  against a hub with --fault-kill-session: an abrupt close of one
              connection makes the hub close the other, and the key is refused (13)
"""
import select
import hashlib
import os
import socket
import ssl
import struct
import sys
import time

HOST, PORT, PIN, SCENARIO = sys.argv[1], int(sys.argv[2]), sys.argv[3].lower(), sys.argv[4]
MAC = bytes.fromhex("025e00000001")
GW = bytes([10, 77, 0, 1])


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


# --- PACK -------------------------------------------------------------------------------
INT, DATA, STR, UNISTR, INT64 = 0, 1, 2, 3, 4


def pack_encode(elems):
    out = struct.pack(">I", len(elems))
    for name, typ, val in elems:
        nb = name.encode()
        out += struct.pack(">I", len(nb) + 1) + nb + struct.pack(">II", typ, 1)
        if typ == INT:
            out += struct.pack(">I", val)
        elif typ == INT64:
            out += struct.pack(">Q", val)
        elif typ == UNISTR:
            b = val.encode() + b"\0"
            out += struct.pack(">I", len(b)) + b
        else:
            b = val if isinstance(val, bytes) else val.encode()
            out += struct.pack(">I", len(b)) + b
    return out


def pack_decode(b):
    (n,), o, res = struct.unpack_from(">I", b, 0), 4, {}
    for _ in range(n):
        (nl,) = struct.unpack_from(">I", b, o)
        name = b[o + 4:o + 4 + nl - 1].decode()
        o += 4 + nl - 1
        typ, cnt = struct.unpack_from(">II", b, o)
        o += 8
        vals = []
        for _ in range(cnt):
            if typ == INT:
                vals.append(struct.unpack_from(">I", b, o)[0])
                o += 4
            elif typ == INT64:
                vals.append(struct.unpack_from(">Q", b, o)[0])
                o += 8
            else:
                (ln,) = struct.unpack_from(">I", b, o)
                vals.append(b[o + 4:o + 4 + ln])
                o += 4 + ln
        res[name.lower()] = (typ, vals[0] if cnt == 1 else vals)
    return res


# --- connection ---------------------------------------------------------------------------
def connect():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((HOST, PORT), timeout=10)
    s = ctx.wrap_socket(raw)
    der = s.getpeercert(binary_form=True)
    if hashlib.sha256(der).hexdigest() != PIN:
        fail("certificate does not match the printed sha256")
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def http_response(s):
    h = b""
    while b"\r\n\r\n" not in h:
        c = s.recv(1)
        if not c:
            raise EOFError("closed in the response header")
        h += c
    lines = h.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdr[k.strip().lower()] = v.strip()
    body = recv_exact(s, int(hdr.get("content-length", "0")))
    return lines[0], status, hdr, body


def post(s, path, body, ctype="application/octet-stream", version="HTTP/1.1"):
    req = ("POST %s %s\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
           "Connection: Keep-Alive\r\n\r\n" % (path, version, HOST, ctype, len(body)))
    s.sendall(req.encode() + body)
    return http_response(s)


def hello(s):
    line, st, hdr, body = post(s, "/vpnsvc/connect.cgi", b"VPNCONNECT", "image/jpeg")
    if st != 200 or hdr.get("content-type") != "application/octet-stream":
        fail("signature answered %r %r" % (line, hdr))
    p = pack_decode(body)
    return p


def login(s, rnd, user, authtype, extra=(), hub="DEFAULT", max_connection=1):
    elems = [("method", STR, "login"), ("hubname", STR, hub), ("username", STR, user),
             ("authtype", INT, authtype), ("use_encrypt", INT, 1),
             ("max_connection", INT, max_connection),
             ("use_compress", INT, 0), ("half_connection", INT, 0), ("qos", INT, 0),
             ("client_str", STR, "hub_probe.py"), ("client_ver", INT, 501),
             ("client_build", INT, 9674)] + list(extra)
    line, st, hdr, body = post(s, "/vpnsvc/vpn.cgi", pack_encode(elems))
    if st != 200:
        fail("login answered %r" % line)
    return pack_decode(body)


def expect_error(p, code, what):
    got = p.get("error", (INT, 0))[1]
    if got != code:
        fail("%s: error %r, expected %d" % (what, got, code))
    ok("%s -> error %d" % (what, code))


# --- scenarios -------------------------------------------------------------------------------
def scenario_handshake():
    s = connect()
    ok("TLS %s %s, certificate matches the pin" % (s.version(), s.cipher()[0]))
    line, st, _, _ = post(s, "/vpnsvc/other.cgi", b"VPNCONNECT", "image/jpeg")
    if st != 404:
        fail("wrong target: %r" % line)
    ok("signature to another target -> 404")
    line, st, _, _ = post(s, "/vpnsvc/connect.cgi", b"vpnconnect", "image/jpeg")
    if st != 403:
        fail("lower-case VPNCONNECT: %r" % line)
    ok("lower-case vpnconnect -> 403")
    p = hello(s)
    if p["hello"][0] != STR or p["version"][1] != 501 or p["build"][1] != 9674:
        fail("hello fields %r" % p)
    if p["random"][0] != DATA or len(p["random"][1]) != 20:
        fail("hello random is not DATA 20")
    r1 = p["random"][1]
    s.close()
    s = connect()
    r2 = hello(s)["random"][1]
    if r1 == r2:
        fail("hello random repeated")
    ok("hello: version 501 build 9674, fresh 20-byte random")
    s.close()
    s = connect()
    line, st, _, _ = post(s, "/vpnsvc/connect.cgi", b"x" * 1410, "image/jpeg")
    if st != 403:
        fail("1410-byte signature: %r" % line)
    ok("1410-byte signature -> 403")
    s.close()


def scenario_logins():
    cases = [("unknown hub", dict(user="alice", authtype=2, hub="NOSUCH",
                                   extra=[("plain_password", STR, "right")]), 8),
             ("wrong plain password", dict(user="alice", authtype=2,
                                           extra=[("plain_password", STR, "wrong")]), 9),
             ("anonymous for a password user", dict(user="alice", authtype=0), 9),
             ("unknown user", dict(user="nobody", authtype=2,
                                   extra=[("plain_password", STR, "x")]), 9)]
    for what, kw, code in cases:
        s = connect()
        rnd = hello(s)["random"][1]
        expect_error(login(s, rnd, **kw), code, what)
        s.close()
    s = connect()
    hello(s)
    line, st, _, body = post(s, "/vpnsvc/vpn.cgi", pack_encode([("method", STR, "fly")]))
    expect_error(pack_decode(body), 4, "unknown method")
    s.close()
    s = connect()
    hello(s)
    line, st, _, body = post(s, "/vpnsvc/vpn.cgi", pack_encode([("method", STR, "login")]),
                             version="HTTP/1.0")
    expect_error(pack_decode(body), 3, "HTTP/1.0 login")
    s.close()
    s = connect()
    hello(s)
    line, st, _, body = post(s, "/vpnsvc/vpn.cgi", pack_encode([("method", STR, "login")]),
                             ctype="text/plain")
    expect_error(pack_decode(body), 3, "text/plain login")
    s.close()


def blocks_recv(s, deadline):
    """Yields ('ka', payload) or ('frame', bytes) until the deadline."""
    buf = b""
    s.settimeout(0.5)
    while time.time() < deadline:
        try:
            c = s.recv(65536)
        except socket.timeout:
            continue
        if not c:
            raise EOFError("hub closed the data connection")
        buf += c
        while len(buf) >= 8:
            (n,) = struct.unpack_from(">I", buf, 0)
            if n == 0xFFFFFFFF:
                (ln,) = struct.unpack_from(">I", buf, 4)
                if len(buf) < 8 + ln:
                    break
                yield ("ka", buf[8:8 + ln])
                buf = buf[8 + ln:]
                continue
            o, frames, complete = 4, [], True
            for _ in range(n):
                if len(buf) < o + 4:
                    complete = False
                    break
                (ln,) = struct.unpack_from(">I", buf, o)
                if len(buf) < o + 4 + ln:
                    complete = False
                    break
                frames.append(buf[o + 4:o + 4 + ln])
                o += 4 + ln
            if not complete:
                break
            buf = buf[o:]
            for f in frames:
                yield ("frame", f)


def send_frames(s, frames):
    out = struct.pack(">I", len(frames))
    for f in frames:
        out += struct.pack(">I", len(f)) + f
    s.sendall(out)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_udp(src, dst, sport, dport, payload, dst_mac=b"\xff" * 6):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
    return dst_mac + MAC + b"\x08\x00" + ip + udp


def ipv4_udp_fragments(src, dst, sport, dport, payload, first_len, ident, dst_mac):
    """A UDP datagram as two IPv4 fragments: first_len bytes (a multiple of 8), the rest."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    out = []
    for off, data, more in ((0, udp[:first_len], True), (first_len, udp[first_len:], False)):
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident,
                         (0x2000 if more else 0) | off // 8, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
        out.append(dst_mac + MAC + b"\x08\x00" + ip + data)
    return out


def ipv4_tcp_syn(src, dst, dport, dst_mac):
    tcp = struct.pack(">HHIIBBHHH", 40000, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
    return dst_mac + MAC + b"\x08\x00" + ip + tcp


def dhcp_discover(xid):
    b = struct.pack(">BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                    b"\0" * 4, b"\0" * 4, b"\0" * 4, MAC + b"\0" * 10, b"", b"")
    b += bytes([99, 130, 83, 99, 53, 1, 1, 55, 3, 1, 3, 6, 255])
    return ipv4_udp(b"\0" * 4, b"\xff" * 4, 68, 67, b)


def dhcp_options(udp_payload):
    o, opts = 240, {}
    while o < len(udp_payload) and udp_payload[o] != 255:
        if udp_payload[o] == 0:
            o += 1
            continue
        opts[udp_payload[o]] = udp_payload[o + 2:o + 2 + udp_payload[o + 1]]
        o += 2 + udp_payload[o + 1]
    return opts


def dns_query(qid, name, qtype=1):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def scenario_data():
    s = connect()
    rnd = hello(s)["random"][1]
    w = login(s, rnd, "alice", 2, [("plain_password", STR, "right")])
    if "error" in w:
        fail("plain login refused: %r" % (w["error"],))
    for k, t in (("session_name", STR), ("connection_name", STR), ("session_key", DATA),
                 ("max_connection", INT), ("use_encrypt", INT), ("timeout", INT),
                 ("policy:ver3", INT), ("msg", DATA)):
        if k not in w or w[k][0] != t:
            fail("welcome lacks %s of type %d" % (k, t))
    if not w["session_name"][1].startswith(b"SID-ALICE-") or len(w["session_key"][1]) != 20:
        fail("welcome session_name/session_key %r" % (w["session_name"],))
    ok("welcome: %s %s timeout %d, %d elements" % (
        w["session_name"][1].decode(), w["connection_name"][1].decode(), w["timeout"][1],
        len(w)))
    t0 = time.time()
    got_ka = got_offer = got_dns = got_nx = got_arp = False
    xid = int.from_bytes(os.urandom(4), "big")
    send_frames(s, [dhcp_discover(xid)])
    gw_mac = None
    for kind, f in blocks_recv(s, t0 + 10):
        if kind == "ka":
            if not got_ka:
                ok("keep-alive from the hub after %.1f s (%d bytes)" % (time.time() - t0, len(f)))
            got_ka = True
        elif f[12:14] == b"\x08\x00" and f[23] == 17 and f[34:38] == b"\x00\x43\x00\x44":
            pay = f[42:]
            if struct.unpack_from(">I", pay, 4)[0] != xid:
                continue
            opts = dhcp_options(pay)
            if opts.get(53) == b"\x02" and not got_offer:
                got_offer = True
                yiaddr = pay[16:20]
                if opts.get(6) != GW or opts.get(3) != GW:
                    fail("DHCP offer router %r dns %r, expected 10.77.0.1" % (opts.get(3), opts.get(6)))
                ok("DHCP offer %s, router and DNS 10.77.0.1" % socket.inet_ntoa(yiaddr))
                gw_mac = f[6:12]
                # ARP for the gateway, DNS queries to the gateway, a SYN to the outside
                arp = (b"\xff" * 6 + MAC + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1)
                       + MAC + yiaddr + b"\0" * 6 + GW)
                send_frames(s, [arp,
                                ipv4_udp(yiaddr, GW, 5353, 53, dns_query(7, "intranet.test"), gw_mac),
                                ipv4_udp(yiaddr, GW, 5354, 53, dns_query(8, "example.com"), gw_mac),
                                ipv4_tcp_syn(yiaddr, bytes([192, 0, 2, 1]), 80, gw_mac)]
                            # fragmented: UDP to the outside (frames of 1034 and 79
                            # bytes) and DNS to the gateway (1042 and 57), all dropped
                            + ipv4_udp_fragments(yiaddr, bytes([192, 0, 2, 1]), 5355, 9,
                                                 bytes(1037), 1000, 0x4242, gw_mac)
                            + ipv4_udp_fragments(yiaddr, GW, 5356, 53,
                                                 dns_query(9, "intranet.test").ljust(1023, b"\0"),
                                                 1008, 0x4343, gw_mac))
        elif f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == GW:
            got_arp = True
            ok("ARP reply for 10.77.0.1 from %s" % f[22:28].hex(":"))
        elif f[12:14] == b"\x08\x00" and f[23] == 17 and f[34:36] == b"\x00\x35":
            d = f[42:]
            qid, flags, qd, an = struct.unpack_from(">HHHH", d, 0)
            if qid == 9:
                fail("the hub answered a fragmented DNS query")
            if qid == 7:
                if flags & 15 != 0 or an != 1 or d[-4:] != GW:
                    fail("DNS answer for intranet.test: flags %x an %d" % (flags, an))
                if csum(f[14:34]) != 0:
                    fail("DNS reply IP checksum")
                got_dns = True
                ok("DNS intranet.test -> 10.77.0.1 from the hub")
            elif qid == 8:
                if flags & 15 != 3:
                    fail("example.com: rcode %d, expected NXDOMAIN" % (flags & 15))
                got_nx = True
                ok("DNS example.com -> NXDOMAIN (nothing forwarded)")
        if got_ka and got_offer and got_dns and got_nx and got_arp:
            break
    if not (got_ka and got_offer and got_dns and got_nx and got_arp):
        fail("missing: keep-alive %s offer %s dns %s nxdomain %s arp %s" % (
            got_ka, got_offer, got_dns, got_nx, got_arp))
    # keep-alives from us are accepted and the session stays up
    s.sendall(struct.pack(">II", 0xFFFFFFFF, 3) + b"abc")
    s.close()


def scenario_idle():
    timeout_s = int(os.environ.get("HUB_TIMEOUT_MS", "3000")) / 1000
    s = connect()
    rnd = hello(s)["random"][1]
    w = login(s, rnd, "guest", 0)
    if "error" in w:
        fail("anonymous login refused: %r" % (w["error"],))
    ok("anonymous login %s" % w["session_name"][1].decode())
    t0 = time.time()
    try:
        for _ in blocks_recv(s, t0 + timeout_s + 3):
            pass
    except (EOFError, ConnectionError, ssl.SSLError):
        el = time.time() - t0
        if el < timeout_s - 0.5:
            fail("closed after %.1f s, before the %.1f s timeout" % (el, timeout_s))
        ok("silent session closed by the hub after %.1f s (timeout %.1f s)" % (el, timeout_s))
        return
    fail("hub did not close a silent session within timeout + 3 s")


def scenario_fault_drop():
    """Hub run with --fault-drop-after-ms 500 --fault-drop-rst (and --fault-login-error
    for user "refused"): the data connection is reset about 0.5 s after the welcome."""
    s = connect()
    rnd = hello(s)["random"][1]
    expect_error(login(s, rnd, "alice", 2, [("plain_password", STR, "right")], hub="REFUSING"),
                 8, "unknown hub before the login fault")
    s.close()
    s = connect()
    rnd = hello(s)["random"][1]
    w = login(s, rnd, "guest", 0)
    if "error" in w:
        expect_error(w, int(os.environ.get("HUB_FAULT_LOGIN", "0")), "login with a login fault")
        return
    t0 = time.time()
    try:
        for _ in blocks_recv(s, t0 + 5):
            pass
    except (ConnectionResetError, EOFError, ssl.SSLError) as e:
        # Python's TLS layer may report the RST as an EOF; the shell checks the hub's log.
        el = time.time() - t0
        if not 0.3 <= el <= 2.5:
            fail("dropped after %.1f s, expected about 0.5 s" % el)
        ok("data connection dropped by the hub after %.1f s (%s)" % (el, type(e).__name__))
        return
    fail("no drop within 5 s")


def attach(key):
    s = connect()
    hello(s)
    line, st, _, body = post(s, "/vpnsvc/vpn.cgi", pack_encode([
        ("method", STR, "additional_connect"), ("session_key", DATA, key),
        ("client_str", STR, "hub_probe.py"), ("client_ver", INT, 501),
        ("client_build", INT, 9674)]))
    if st != 200:
        fail("additional_connect answered %r" % line)
    return s, pack_decode(body)


def login_session(max_connection):
    s = connect()
    rnd = hello(s)["random"][1]
    w = login(s, rnd, "alice", 2, [("plain_password", STR, "right")],
              max_connection=max_connection)
    if "error" in w:
        fail("login refused: %r" % (w["error"],))
    return s, w


def drain(socks, seconds, want=None):
    """Reads block messages from every socket in socks (a dict name -> socket) for up to
    seconds; returns (frames as [(name, frame)], set of names that hit EOF). Stops early
    once want(frames) is true."""
    bufs = {n: b"" for n in socks}
    frames, eof = [], set()
    deadline = time.time() + seconds
    for s in socks.values():
        s.setblocking(False)
    while time.time() < deadline and len(eof) < len(socks):
        live = [s for n, s in socks.items() if n not in eof]
        pending = [s for s in live if s.pending()]
        r = pending or select.select(live, [], [], 0.2)[0]
        for s in r:
            name = [n for n, x in socks.items() if x is s][0]
            try:
                c = s.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                c = b""
            if not c:
                eof.add(name)
                continue
            b = bufs[name] + c
            while len(b) >= 8:
                (n,) = struct.unpack_from(">I", b, 0)
                if n == 0xFFFFFFFF:
                    (ln,) = struct.unpack_from(">I", b, 4)
                    if len(b) < 8 + ln:
                        break
                    b = b[8 + ln:]
                    continue
                o, got, complete = 4, [], True
                for _ in range(n):
                    if len(b) < o + 4:
                        complete = False
                        break
                    (ln,) = struct.unpack_from(">I", b, o)
                    if len(b) < o + 4 + ln:
                        complete = False
                        break
                    got.append(b[o + 4:o + 4 + ln])
                    o += 4 + ln
                if not complete:
                    break
                b = b[o:]
                frames += [(name, f) for f in got]
            bufs[name] = b
        if want is not None and want(frames):
            break
    for s in socks.values():
        s.setblocking(True)
    return frames, eof


def is_offer(f, xid):
    return (len(f) > 282 and f[12:14] == b"\x08\x00" and f[23] == 17
            and f[34:38] == b"\x00\x43\x00\x44" and struct.unpack_from(">I", f, 46)[0] == xid)


def scenario_additional():
    s1, w = login_session(2)
    key = w["session_key"][1]
    if w["max_connection"][1] != 2:
        fail("asked max_connection 2, welcome grants %r" % (w["max_connection"][1],))
    s2, r = attach(key)
    expect_error(r, 0, "additional_connect #1")
    if r.get("direction", (INT, -1))[1] != 0:
        fail("direction %r, expected 0" % (r.get("direction"),))
    s3, r = attach(key)
    expect_error(r, 0, "additional_connect #2 (max_connection + 1, as 5.01 admits)")
    s4, r = attach(key)
    expect_error(r, 15, "additional_connect #3 (too many)")
    s4.close()
    s5, r = attach(os.urandom(20))
    expect_error(r, 13, "additional_connect with an unknown key")
    s5.close()
    s6, r = attach(key[:19])
    expect_error(r, 4, "additional_connect with a 19-byte key")
    s6.close()
    xid = int.from_bytes(os.urandom(4), "big")
    send_frames(s2, [dhcp_discover(xid)])
    socks = {"conn1": s1, "conn2": s2, "conn3": s3}
    frames, eof = drain(socks, 5, lambda fr: any(is_offer(f, xid) for _, f in fr))
    offers = [n for n, f in frames if is_offer(f, xid)]
    if not offers or eof:
        fail("no DHCP offer for a discover sent on an additional connection (eof %r)" % eof)
    ok("DHCP discover on conn2 answered in the session (offer on %s)" % offers[0])
    s1.close()  # no close_notify: an abrupt loss
    frames, eof = drain({"conn2": s2, "conn3": s3}, 1.5)
    if eof:
        fail("the hub closed %r after the login connection was lost" % sorted(eof))
    ok("login connection lost abruptly: the other two stay up")
    s7, r = attach(key)
    expect_error(r, 0, "re-attach after the loss")
    for s in (s2, s3, s7):
        s.close()


def scenario_kill_session():
    s1, w = login_session(2)
    key = w["session_key"][1]
    s2, r = attach(key)
    expect_error(r, 0, "additional_connect")
    t0 = time.time()
    s1.close()  # no close_notify
    frames, eof = drain({"conn2": s2}, 3)
    if "conn2" not in eof:
        fail("the hub kept conn2 after an abrupt loss of conn1 (kill-session mode)")
    ok("abrupt loss of conn1: the hub closed conn2 after %.2f s" % (time.time() - t0))
    s3, r = attach(key)
    expect_error(r, 13, "re-attach to the killed session")
    s3.close()
    s2.close()


{"fault_drop": scenario_fault_drop, "additional": scenario_additional,
 "kill_session": scenario_kill_session, "handshake": scenario_handshake, "logins": scenario_logins, "data": scenario_data,
 "idle": scenario_idle}[SCENARIO]()
