#!/usr/bin/env python3
"""A tiny HTTP/1.1 origin for tests/cli/http_proxy_test.sh: keep-alive, and responses
python's http.server cannot make.

  GET  /chunked   -> 200, Transfer-Encoding: chunked, body "chunk-one chunk-two\n"
  GET  /close     -> 200 without Content-Length, delimited by closing
  GET  /nocontent -> 204
  POST /echo      -> 200, the request body back (Content-Length or chunked request)
  GET  /conn      -> "conn N": the number of this TCP connection (1, 2, ...)
  GET  /lastone   -> 200 with Content-Length and "Connection: close", then closes
  HEAD anything   -> the GET head, no body
  anything else   -> 200 "path PATH"
usage: http_origin.py PORTFILE   (binds 127.0.0.1:0 and writes the port to PORTFILE)
"""
import socketserver
import sys
import threading

COUNT = [0]
LOCK = threading.Lock()


def read_chunked(f):
    out = b""
    while True:
        size = int(f.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while f.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        out += f.read(size)
        f.readline()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        with LOCK:
            COUNT[0] += 1
            conn_no = COUNT[0]
        f = self.rfile
        while True:
            line = f.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            hdrs = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, v = h.decode("latin-1").split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            body = b""
            if hdrs.get("transfer-encoding", "").lower() == "chunked":
                body = read_chunked(f)
            elif "content-length" in hdrs:
                body = f.read(int(hdrs["content-length"]))
            close = hdrs.get("connection", "").lower() == "close"
            head_only = method == "HEAD"
            w = self.wfile
            if path == "/chunked":
                w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        b"Keep-Alive: timeout=5\r\nX-Origin: yes\r\n\r\n")
                if not head_only:
                    w.write(b"a\r\nchunk-one \r\n" b"a\r\nchunk-two\n\r\n" b"0\r\n\r\n")
            elif path == "/close":
                w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                if not head_only:
                    w.write(b"closed-body\n")
                w.flush()
                return
            elif path == "/lastone":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
                if not head_only:
                    w.write(b"last\n")
                w.flush()
                return
            elif path == "/nocontent":
                w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                if path == "/echo":
                    data = body
                elif path == "/conn":
                    data = b"conn %d\n" % conn_no
                else:
                    data = b"path " + path.encode() + b"\n"
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
                if not head_only:
                    w.write(data)
            w.flush()
            if close:
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as pf:
        pf.write("%d\n" % srv.server_address[1])
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
