"""A local port forward through a SOCKS5 proxy, standing in for a `-L` forward that
sevpn-proxy does not have yet: accepts on LISTEN, opens each connection to TARGET through
the SOCKS5 proxy (no authentication), then copies both directions with splice(2) through
a pipe (no copy through user space), one thread per direction.
Usage: socksfwd.py LISTEN_IP:PORT SOCKS_IP:PORT TARGET_IP:PORT
Prints "listening" on stdout when it accepts connections."""
import fcntl
import ipaddress
import os
import socket
import struct
import sys
import threading

F_SETPIPE_SZ = 1031
CHUNK = 1 << 20


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h.strip("[]"), int(p)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("SOCKS proxy closed the connection")
        b += c
    return b


def socks_connect(proxy, target):
    s = socket.create_connection(proxy)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        raise ConnectionError("SOCKS method refused")
    ip = ipaddress.ip_address(target[0])
    atyp = b"\x01" if ip.version == 4 else b"\x04"
    s.sendall(b"\x05\x01\x00" + atyp + ip.packed + struct.pack("!H", target[1]))
    rep = recv_exact(s, 4)
    if rep[1] != 0:
        raise ConnectionError("SOCKS CONNECT failed, reply %d" % rep[1])
    recv_exact(s, (4 if rep[3] == 1 else 16) + 2)
    return s


def drain(src):
    """Reads src to its end, so that it is closed with a FIN and not reset."""
    buf = bytearray(CHUNK)
    try:
        while src.recv_into(buf):
            pass
    except OSError:
        pass


def pump(src, dst):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass
    flags = os.SPLICE_F_MOVE | os.SPLICE_F_MORE
    try:
        while True:
            try:
                n = os.splice(src.fileno(), w, CHUNK, flags=flags)
            except OSError:
                break
            if n == 0:
                break
            try:
                while n > 0:
                    n -= os.splice(r, dst.fileno(), n, flags=flags)
            except OSError:
                # The reader went away (iperf3 closes its sockets at the end of a test):
                # drain the writer instead of resetting it. A reset would make the next
                # write of sevpn-proxy to this socket raise SIGPIPE, which kills it
                # (it does not ignore SIGPIPE; see bench/RESULTS.md).
                drain(src)
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    finally:
        os.close(r)
        os.close(w)


def serve(conn, proxy, target):
    try:
        up = socks_connect(proxy, target)
    except (OSError, ConnectionError) as e:
        print("socksfwd: %s" % e, file=sys.stderr)
        conn.close()
        return
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = threading.Thread(target=pump, args=(up, conn), daemon=True)
    t.start()
    pump(conn, up)
    t.join()
    conn.close()
    up.close()


def main():
    listen, proxy, target = (hostport(a) for a in sys.argv[1:4])
    ls = socket.socket(socket.AF_INET6 if ":" in listen[0] else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(listen)
    ls.listen(128)
    print("listening", flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, proxy, target), daemon=True).start()


if __name__ == "__main__":
    main()
