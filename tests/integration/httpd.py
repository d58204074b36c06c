"""LAN web server for the integration tests: serves a directory on [::]:PORT (IPv4 too),
one thread per connection, file bodies with sendfile so it is never the bottleneck of a
benchmark. Usage: httpd.py DIR PORT"""
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
