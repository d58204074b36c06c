"""Web server for the benchmarks: GET serves files of DIR with sendfile (as
tests/integration/httpd.py does), PUT/POST read the body (Content-Length) and throw it away,
answering "received N". Listen backlog 1024, so that bursts of connects are never dropped
by the listener. Usage: benchd.py ADDR PORT DIR   (ADDR "::" = IPv6 and IPv4)"""
import http.server
import os
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

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

    def do_PUT(self):
        try:
            left = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.send_error(400)
            return
        buf = memoryview(bytearray(1 << 20))
        got = 0
        while left > 0:
            n = self.rfile.readinto(buf[: min(left, len(buf))])
            if not n:
                break
            got += n
            left -= n
        body = b"received %d\n" % got
        self.send_response(200 if left == 0 else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, addr, handler):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    os.chdir(sys.argv[3])
    Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()


if __name__ == "__main__":
    main()
