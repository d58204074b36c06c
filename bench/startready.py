"""Start -> ready time of sevpn-proxy: runs CMD with its stderr on a pipe, timestamps every
line, and when the `ready ` line appears sends SIGTERM and waits for the exit (unless
--keep). Prints one JSON object: ready_s (from just before the fork to the line; null if
it never came), exit status, and the first lines with their times (to see which step
took the time when the client logs them, e.g. with -v).
Usage: startready.py [--timeout S] -- CMD [ARGS...]"""
import json
import os
import selectors
import signal
import subprocess
import sys
import time


def main():
    argv = sys.argv[1:]
    timeout = 30.0
    if argv[:1] == ["--timeout"]:
        timeout = float(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    fd = p.stderr.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buf, lines, ready = b"", [], None
    deadline = t0 + timeout
    while ready is None:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        if not sel.select(left):
            continue
        chunk = os.read(fd, 65536)
        now = time.perf_counter() - t0
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode("utf-8", "replace")
            if len(lines) < 60:
                lines.append([round(now, 4), text])
            if text.startswith("ready "):
                ready = now
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    os.set_blocking(fd, True)
    try:
        p.stderr.read()
    except (OSError, ValueError):
        pass
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    print(json.dumps({"ready_s": ready, "exit": rc, "lines": lines}))


if __name__ == "__main__":
    main()
