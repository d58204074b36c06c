"""LAN web server for the integration tests: serves a directory on [::]:PORT (IPv4 too),
one thread per connection, file bodies with sendfile so it is never the bottleneck of a
benchmark. POST and PUT answer the SHA-256 (hex) of the request body, sent with
Content-Length or chunked. Usage: httpd.py DIR PORT"""
import hashlib
import http.server
import os
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, source, outputfile):
        outputfile.flush()
        size = os.fstat(source.fileno()).st_size
        off = source.tell()
        try:
            while off < size:
                n = os.sendfile(self.connection.fileno(), source.fileno(), off, size - off)
                if n == 0:
                    break
                off += n
        except (BrokenPipeError, ConnectionResetError):
            pass

    def read_body(self, h):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                h.update(self.rfile.read(size))
                self.rfile.readline()
        left = int(self.headers.get("Content-Length", 0))
        while left > 0:
            d = self.rfile.read(min(left, 65536))
            if not d:
                return
            h.update(d)
            left -= len(d)

    def do_POST(self):
        h = hashlib.sha256()
        self.read_body(h)
        out = (h.hexdigest() + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_PUT = do_POST


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    os.chdir(sys.argv[1])
    Server(("::", int(sys.argv[2])), Handler).serve_forever()


if __name__ == "__main__":
    main()
