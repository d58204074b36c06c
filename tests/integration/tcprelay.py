#!/usr/bin/env python3
"""A TCP relay for fault injection between the client and the server.

usage: tcprelay.py LISTEN_PORT TARGET_HOST TARGET_PORT
Listens on 127.0.0.1:LISTEN_PORT and relays each connection to TARGET. Prints
"listening" when ready. Signals cut every open connection, both directions:
  SIGUSR1  FIN: shutdown() both sockets (no TLS close_notify is sent by anyone)
  SIGUSR2  RST: close with SO_LINGER 0
Each cut is logged to stderr.
"""
import os
import select
import signal
import socket
import struct
import sys
import threading

LPORT, THOST, TPORT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
lock = threading.Lock()
pairs = []


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(c):
    try:
        s = socket.create_connection((THOST, TPORT), timeout=10)
    except OSError as e:
        log("connect to target failed: %s" % e)
        c.close()
        return
    s.settimeout(None)
    with lock:
        pairs.append((c, s))
    t = threading.Thread(target=pump, args=(s, c), daemon=True)
    t.start()
    pump(c, s)
    t.join()
    with lock:
        if (c, s) in pairs:
            pairs.remove((c, s))
    c.close()
    s.close()


def cut(rst):
    with lock:
        victims = list(pairs)
        pairs.clear()
    for c, s in victims:
        for x in (c, s):
            try:
                if rst:
                    x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    x.close()
                else:
                    x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    log("cut %d connection(s) with %s" % (len(victims), "RST" if rst else "FIN"))


r, w = os.pipe()
signal.signal(signal.SIGUSR1, lambda *_: os.write(w, b"F"))
signal.signal(signal.SIGUSR2, lambda *_: os.write(w, b"R"))
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", LPORT))
ls.listen(16)
print("listening", flush=True)
while True:
    ready, _, _ = select.select([ls, r], [], [])
    if r in ready:
        for ch in os.read(r, 64):
            cut(ch == ord("R"))
    if ls in ready:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()
