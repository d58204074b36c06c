#!/usr/bin/env python3
"""A small upstream proxy for tests: HTTP CONNECT (optional Basic auth) or SOCKS5
(optional RFC 1929 username/password). Connects only to 127.0.0.1 (the test hub), so
nothing leaves the machine. Prints "listening PORT" when ready; logs one line per
request to stderr.

usage: upstream_proxy.py http|socks5 [USER:PASS]
"""
import base64
import socket
import struct
import sys
import threading

KIND = sys.argv[1]
CRED = sys.argv[2] if len(sys.argv) > 2 else None


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(c, host, port):
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("refusing %s: only 127.0.0.1 is allowed" % host)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(None)
    return s


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def http(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d:
            return
        head += d
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].decode().split(" ", 2)
    if method != "CONNECT":
        c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        return
    if CRED:
        want = b"Basic " + base64.b64encode(CRED.encode())
        got = [l.split(b":", 1)[1].strip() for l in lines[1:] if l.lower().startswith(b"proxy-authorization:")]
        if got != [want]:
            log("CONNECT %s: 407" % target)
            c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                      b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            return
    host, port = target.rsplit(":", 1)
    try:
        s = relay(c, host.strip("[]"), int(port))
    except (OSError, ValueError) as e:
        log("CONNECT %s: 502 %s" % (target, e))
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        return
    log("CONNECT %s: 200" % target)
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        s.sendall(rest)
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
    pipe(c, s)


def socks5(c):
    ver, n = recv_exact(c, 2)
    methods = recv_exact(c, n)
    want = 2 if CRED else 0
    if ver != 5 or want not in methods:
        c.sendall(b"\x05\xff")
        return
    c.sendall(bytes([5, want]))
    if CRED:
        v, ul = recv_exact(c, 2)
        u = recv_exact(c, ul)
        pl = recv_exact(c, 1)[0]
        p = recv_exact(c, pl)
        if (u + b":" + p).decode() != CRED:
            log("SOCKS5 auth: refused")
            c.sendall(b"\x01\x01")
            return
        c.sendall(b"\x01\x00")
    ver, cmd, _, atyp = recv_exact(c, 4)
    if atyp == 1:
        host = socket.inet_ntoa(recv_exact(c, 4))
    elif atyp == 3:
        host = recv_exact(c, recv_exact(c, 1)[0]).decode()
    else:
        host = socket.inet_ntop(socket.AF_INET6, recv_exact(c, 16))
    port = struct.unpack(">H", recv_exact(c, 2))[0]
    try:
        s = relay(c, host, port)
    except (OSError, ValueError) as e:
        log("SOCKS5 %s:%d: refused %s" % (host, port, e))
        c.sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
        return
    log("SOCKS5 %s:%d: ok" % (host, port))
    c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack(">H", 0))
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
    pipe(c, s)


def serve(c):
    try:
        (http if KIND == "http" else socks5)(c)
    except (OSError, EOFError, ValueError) as e:
        log("error: %s" % e)
    finally:
        c.close()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print("listening %d" % ls.getsockname()[1], flush=True)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
