#!/usr/bin/env python3
"""N slow readers through a SOCKS5 proxy: each fetches the same file over HTTP, reads
the first PRE bytes at full speed, then stops reading while the proxy's resident memory
is sampled; then every reader reads to the end and the bodies are checked (SHA-256).

Prints one line: rss_base_kib=.. rss_peak_kib=.. rss_growth_kib=..
rss_after_close_kib=.. (AFTER seconds after the readers closed) intact=K/N
Exit status 0 when every body arrived intact, 1 otherwise.
"""
import argparse
import hashlib
import selectors
import socket
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def socks5_connect(proxy, host, port, rcvbuf):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(proxy)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise RuntimeError("SOCKS5 greeting refused")
    h = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack(">H", port))
    rep = b""
    while len(rep) < 10:
        chunk = s.recv(10 - len(rep))
        if not chunk:
            raise RuntimeError("SOCKS5 connect: connection closed")
        rep += chunk
    if rep[1] != 0:
        raise RuntimeError(f"SOCKS5 connect failed: reply {rep[1]}")
    return s


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.head = b""
        self.in_body = False
        self.body = 0
        self.total = 0
        self.sha = hashlib.sha256()
        self.eof = False

    def feed(self, data):
        self.total += len(data)
        if not self.in_body:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                return
            data = self.head[i + 4:]
            self.in_body = True
        self.body += len(data)
        self.sha.update(data)


def pump(readers, until, timeout):
    """Reads from readers until until(r) holds for each, or timeout seconds pass."""
    sel = selectors.DefaultSelector()
    for r in readers:
        if not until(r) and not r.eof:
            sel.register(r.sock, selectors.EVENT_READ, r)
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(1.0):
            r = key.data
            data = r.sock.recv(262144)
            if not data:
                r.eof = True
            else:
                r.feed(data)
            if r.eof or until(r):
                sel.unregister(r.sock)
    sel.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socks", required=True, help="HOST:PORT of the SOCKS5 listener")
    ap.add_argument("--url-host", required=True)
    ap.add_argument("--url-port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--pre", type=int, default=0, help="bytes read before stopping")
    ap.add_argument("--rcvbuf", type=int, default=65536)
    ap.add_argument("--pid", type=int, required=True, help="the proxy, for VmRSS")
    ap.add_argument("--hold", type=float, default=4.0,
                    help="seconds without RSS growth before the readers read on")
    ap.add_argument("--max-hold", type=float, default=20.0)
    ap.add_argument("--sha256", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--after", type=float, default=2.0,
                    help="seconds after closing before the last RSS sample")
    ap.add_argument("--no-drain", action="store_true",
                    help="close the readers after the hold instead of reading on")
    a = ap.parse_args()
    host, port = a.socks.rsplit(":", 1)
    proxy = (host, int(port))

    base = rss_kib(a.pid)
    req = f"GET {a.path} HTTP/1.0\r\nHost: {a.url_host}\r\n\r\n".encode()
    readers = []
    for _ in range(a.n):
        s = socks5_connect(proxy, a.url_host, a.url_port, a.rcvbuf)
        s.sendall(req)
        s.setblocking(False)
        readers.append(Reader(s))
    if a.pre > 0:
        pump(readers, lambda r: r.total >= a.pre, a.timeout)
    # Hold: nobody reads; sample the proxy until its RSS stops growing.
    peak = rss_kib(a.pid)
    start = last_growth = time.monotonic()
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        cur = rss_kib(a.pid)
        if cur > peak + 256:
            last_growth = now
        peak = max(peak, cur)
        if now - last_growth >= a.hold or now - start >= a.max_hold:
            break
    if a.no_drain:
        intact = a.n
    else:
        pump(readers, lambda r: r.eof, a.timeout)
        intact = sum(1 for r in readers
                     if r.body == a.size and r.sha.hexdigest() == a.sha256)
    for r in readers:
        r.sock.close()
    time.sleep(a.after)
    after = rss_kib(a.pid)
    print(f"rss_base_kib={base} rss_peak_kib={peak} rss_growth_kib={peak - base} "
          f"rss_after_close_kib={after} intact={intact}/{a.n}")
    sys.stdout.flush()
    return 0 if intact == a.n else 1


if __name__ == "__main__":
    sys.exit(main())
