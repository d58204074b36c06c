"""Connection benchmarks for bench/run_all.sh; results as one JSON object on stdout.

  connbench.py latency (--socks IP:PORT | --raw) --target IP:PORT [-n N]
      N sequential connections. Through SOCKS5: the no-auth greeting is done first, then
      the time from sending the CONNECT request to receiving the success reply is measured
      ("connect"), and from socket() to that reply ("full"). Raw: the time connect() takes
      (both keys). Each connection is closed right after. Percentiles in milliseconds.
  connbench.py rate (--socks IP:PORT | --raw) --target IP:PORT [-n N] [-c CONC]
      N connections (SOCKS5: greeting + CONNECT until the success reply; raw: connect())
      by CONC threads, each opening and closing one after the other: connections/s, and
      the CPU this load generator used (gen_busy 1.0 = one core: it is the limit).
  connbench.py idle --socks IP:PORT --target IP:PORT -n N [-c CONC]
      opens N SOCKS5 connections (at most CONC handshakes at a time) and holds them;
      prints a JSON line when all are open (or failed), then holds them until stdin
      closes or a line is read, then closes them.
  connbench.py hold ADDR PORT
      a listener that accepts connections and holds them until the peer closes; prints
      "listening" when ready.
The process raises its descriptor limit to the hard limit."""
import argparse
import asyncio
import ipaddress
import json
import resource
import socket
import struct
import sys
import threading
import time


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h.strip("[]"), int(p)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def socks_request(target):
    ip = ipaddress.ip_address(target[0])
    atyp = b"\x01" if ip.version == 4 else b"\x04"
    return b"\x05\x01\x00" + atyp + ip.packed + struct.pack("!H", target[1])


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed by the proxy")
        b += c
    return b


def one_conn(args, req):
    """Opens one connection; returns (connect_s, full_s). Closes it."""
    t_start = time.perf_counter()
    if args.raw:
        s = socket.socket(socket.AF_INET6 if ":" in args.target[0] else socket.AF_INET)
        try:
            s.connect(args.target)
            t1 = time.perf_counter()
        finally:
            s.close()
        return t1 - t_start, t1 - t_start
    s = socket.socket(socket.AF_INET)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect(args.socks)
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            raise ConnectionError("SOCKS method refused")
        t0 = time.perf_counter()
        s.sendall(req)
        rep = recv_exact(s, 10)
        t1 = time.perf_counter()
        if rep[1] != 0:
            raise ConnectionError("SOCKS reply %d" % rep[1])
    finally:
        s.close()
    return t1 - t0, t1 - t_start


def pct(v, p):
    v = sorted(v)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    i = int(k)
    j = min(i + 1, len(v) - 1)
    return v[i] + (v[j] - v[i]) * (k - i)


def summary(vals):
    ms = [x * 1000.0 for x in vals]
    return {"p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99), "max": max(ms) if ms else None}


def cmd_latency(args):
    req = socks_request(args.target)
    for _ in range(5):  # warm-up: ARP, first-connection paths
        one_conn(args, req)
    conn, full = [], []
    for _ in range(args.n):
        c, f = one_conn(args, req)
        conn.append(c)
        full.append(f)
    return {"n": args.n, "connect_ms": summary(conn), "full_ms": summary(full)}


def cmd_rate(args):
    req = socks_request(args.target)
    one_conn(args, req)
    lock = threading.Lock()
    left = [args.n]
    lat, errors = [], []

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                c, f = one_conn(args, req)
                with lock:
                    lat.append(f)
            except (OSError, ConnectionError) as e:
                with lock:
                    errors.append(str(e))

    th = [threading.Thread(target=worker) for _ in range(args.c)]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    el = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"n": args.n, "conc": args.c, "seconds": el, "per_s": len(lat) / el,
            "gen_cpu_s": cpu, "gen_busy": cpu / el,
            "errors": len(errors), "first_error": errors[0] if errors else None,
            "full_ms": summary(lat)}


async def idle_main(args):
    req = socks_request(args.target)
    sem = asyncio.Semaphore(args.c)
    held, errors = [], {}

    async def opener():
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(*args.socks), 30)
                w.write(b"\x05\x01\x00")
                if await asyncio.wait_for(r.readexactly(2), 30) != b"\x05\x00":
                    raise ConnectionError("method refused")
                w.write(req)
                rep = await asyncio.wait_for(r.readexactly(10), 30)
                if rep[1] != 0:
                    raise ConnectionError("SOCKS reply %d" % rep[1])
                held.append(w)
            except asyncio.IncompleteReadError:
                errors["closed by the proxy during the handshake"] = errors.get(
                    "closed by the proxy during the handshake", 0) + 1
            except (OSError, ConnectionError, asyncio.TimeoutError) as e:
                k = type(e).__name__ + ": " + str(e)
                errors[k] = errors.get(k, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(opener() for _ in range(args.n)))
    el = time.perf_counter() - t0
    print(json.dumps({"n": args.n, "open": len(held), "failed": sum(errors.values()),
                      "errors": errors, "seconds": el, "nofile": args.nofile}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    alive = 0
    for w in held:
        if not w.is_closing():
            alive += 1
        w.close()
    return {"still_open_at_end": alive}


async def hold_main(addr, port):
    async def handle(r, w):
        try:
            while await r.read(65536):
                pass
        except OSError:
            pass
        w.close()

    srv = await asyncio.start_server(handle, addr, port, backlog=4096)
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["latency", "rate", "idle", "hold"])
    p.add_argument("rest", nargs="*")
    p.add_argument("--socks", type=hostport)
    p.add_argument("--raw", action="store_true")
    p.add_argument("--target", type=hostport)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("-c", type=int, default=1)
    args = p.parse_args()
    args.nofile = raise_nofile()
    if args.mode == "hold":
        asyncio.run(hold_main(args.rest[0], int(args.rest[1])))
        return
    if not args.target or (not args.raw and not args.socks):
        p.error("--target and --socks or --raw are required")
    if args.mode == "latency":
        out = cmd_latency(args)
    elif args.mode == "rate":
        out = cmd_rate(args)
    else:
        out = asyncio.run(idle_main(args))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
