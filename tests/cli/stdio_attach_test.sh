#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# --stdio attaching to a running instance of the same account (platform/mux.h) against
# the test hub (no root). The hub logs one "session for alice up" line per login:
#  - an instance with --socks serves a per-account socket (0600 in a 0700 directory
#    under $XDG_RUNTIME_DIR); several --stdio runs (one with the hub name in other
#    case), without any password and without a terminal, attach to it: each gets the
#    right HTTP response and exits 0, a refused port exits 1, and the hub saw ONE login;
#    `sevpn-proxy status` shows the socket;
#  - --no-attach logs in (a second login);
#  - a second instance for the account does not take the socket over;
#  - --control-path moves the socket for both sides; --check-config prints it;
#  - (as root) a socket served by a process of another user (65534) is not used;
#  - after the instance stopped its socket is gone and --stdio logs in itself;
#  - a stale socket file (no listener) is passed over by --stdio and replaced by the next
#    instance;
#  - a socket directory open to other users is refused (no socket; --stdio logs in).
#  - stdin and stdout on one socket: relayed, and its flags are given back as they were;
#  - a socket whose listener takes no connections (full backlog) does not hang --stdio;
# usage: stdio_attach_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init stdio_attach "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
command -v setsid >/dev/null || hl_skip "setsid not installed"
hl_hub_start hub
hl_http_start
WANT=$(sha256sum "$HL_W/www/small.txt" | cut -d' ' -f1)
HTTP_PORT=${HL_URL##*:}

export XDG_RUNTIME_DIR=$HL_W/rt
mkdir -m 700 "$XDG_RUNTIME_DIR"
MUXDIR=$XDG_RUNTIME_DIR/sevpn-proxy

logins() { grep -c 'session for alice up' "$HL_HUB_LOG" || true; }
expect_logins() { # N WHAT
	local got
	got=$(logins)
	[ "$got" -eq "$1" ] || hl_fail "$2: the hub saw $got logins, expected $1"
}

STDIO_ARGS=(--no-config --server "127.0.0.1:$HL_HUB_PORT" --hub DEFAULT --user "$HL_USER"
	--pin "$HL_FP" --connect-timeout 5 -v)
# run_stdio NAME PASSWORD [ARGS...]: an HTTP request on stdin through --stdio to the web
# server, in a new session (no terminal to prompt on); sets RC, OUT, LOG.
run_stdio() {
	local name=$1 pass=$2
	shift 2
	OUT=$HL_W/$name.out
	LOG=$HL_W/$name.log
	RC=0
	printf 'GET /small.txt HTTP/1.0\r\nHost: intranet.test\r\n\r\n' |
		env ${pass:+SEVPN_PASSWORD=$pass} setsid timeout 30 "$HL_PROXY_BIN" \
		"${STDIO_ARGS[@]}" "$@" >"$OUT" 2>"$LOG" || RC=$?
}
check_body() { # NAME
	head -n1 "$OUT" | grep -q '^HTTP/1.[01] 200' || hl_fail "$1: no HTTP 200 on stdout (exit $RC)"
	[ "$(sed '1,/^\r$/d' "$OUT" | sha256sum | cut -d' ' -f1)" = "$WANT" ] ||
		hl_fail "$1: the body on stdout is wrong"
}

# --- an instance serves its account's socket
CPORT=$(hl_free_port)
hl_proxy_start master -v --control "$CPORT"
MASTER=$HL_PROXY_PID
MASTER_LOG=$HL_PROXY_LOG
SOCK=$(sed -n 's/.*attach: --stdio runs for this account attach through \(.*\)$/\1/p' "$MASTER_LOG")
case $SOCK in
"$MUXDIR"/mux-*.sock) ;;
*) hl_fail "the instance does not say where --stdio runs attach ($SOCK)" ;;
esac
[ -S "$SOCK" ] || hl_fail "no socket at $SOCK"
[ "$(stat -c %a "$SOCK")" = 600 ] || hl_fail "socket mode $(stat -c %a "$SOCK"), expected 600"
[ "$(stat -c %a "$MUXDIR")" = 700 ] || hl_fail "directory mode $(stat -c %a "$MUXDIR"), expected 700"
expect_logins 1 "the instance"
"$HL_PROXY_BIN" status --control "127.0.0.1:$CPORT" >"$HL_W/status.txt" ||
	hl_fail "sevpn-proxy status failed"
grep -qF "Attach socket:     $SOCK" "$HL_W/status.txt" ||
	hl_fail "the status does not show the attach socket: $(cat "$HL_W/status.txt")"

# --- several --stdio runs attach: no password, no terminal, no login
for i in 1 2 3; do
	run_stdio "attach$i" "" --stdio "intranet.test:$HTTP_PORT"
	[ "$RC" -eq 0 ] || hl_fail "attached --stdio $i: exit $RC, expected 0"
	check_body "attached --stdio $i"
	grep -q "attached to the instance $MASTER through $SOCK" "$LOG" ||
		hl_fail "attached --stdio $i: no 'attached to the instance $MASTER' line"
done
# three at once, one naming the hub in other case (SoftEther's hub names ignore case)
pids=()
for i in 4 5 6; do
	hub=DEFAULT
	[ "$i" -eq 6 ] && hub=default
	printf 'GET /small.txt HTTP/1.0\r\nHost: intranet.test\r\n\r\n' |
		setsid timeout 30 "$HL_PROXY_BIN" "${STDIO_ARGS[@]}" --hub "$hub" \
		--stdio "intranet.test:$HTTP_PORT" >"$HL_W/attach$i.out" 2>"$HL_W/attach$i.log" &
	pids+=($!)
done
for i in 0 1 2; do
	wait "${pids[i]}" || hl_fail "concurrent attached --stdio $((i + 4)) failed"
	OUT=$HL_W/attach$((i + 4)).out RC=0 check_body "concurrent attached --stdio $((i + 4))"
done
# a larger body (back-pressure from a slow reader on stdout)
hl_file big.bin 8
rc=0
printf 'GET /big.bin HTTP/1.0\r\nHost: intranet.test\r\n\r\n' |
	setsid timeout 60 "$HL_PROXY_BIN" "${STDIO_ARGS[@]}" --stdio "intranet.test:$HTTP_PORT" \
	2>"$HL_W/big.log" | "$HL_PY" -c '
import sys, time
out = open(sys.argv[1], "wb")
while True:
    b = sys.stdin.buffer.read(65536)
    if not b:
        break
    out.write(b)
    time.sleep(0.002)
' "$HL_W/big.out" || rc=$?
[ "$rc" -eq 0 ] || hl_fail "attached --stdio, 8 MiB: exit $rc"
[ "$(sed '1,/^\r$/d' "$HL_W/big.out" | sha256sum | cut -d' ' -f1)" = "$HL_SHA256" ] ||
	hl_fail "attached --stdio, 8 MiB: the body is wrong"
grep -q "attached to the instance $MASTER" "$HL_W/big.log" || hl_fail "attached --stdio, 8 MiB: not attached"
# a refused port: the instance's answer is final (exit 1, no login of its own)
CLOSED=$(hl_free_port)
run_stdio refused "" --stdio "intranet.test:$CLOSED"
[ "$RC" -eq 1 ] || hl_fail "attached --stdio to a closed port: exit $RC, expected 1"
grep -q "could not connect" "$LOG" || hl_fail "attached --stdio to a closed port: no message"
expect_logins 1 "eight attached --stdio runs"
hl_log "eight --stdio runs attached to instance $MASTER: one login on the hub"

# --- stdin and stdout as one socket (socat, inetd, `<>`): the relay makes it
# non-blocking for a while; the file's flags are given back as they were
"$HL_PY" - "$HL_W/sameio.log" "$HL_PROXY_BIN" "${STDIO_ARGS[@]}" \
	--stdio "intranet.test:$HTTP_PORT" >"$HL_W/sameio.out" 2>&1 <<'PY' ||
import fcntl, os, socket, subprocess, sys
mine, theirs = socket.socketpair()
theirs.setblocking(True)
before = fcntl.fcntl(theirs.fileno(), fcntl.F_GETFL)
mine.sendall(b"GET /small.txt HTTP/1.0\r\nHost: intranet.test\r\n\r\n")
with open(sys.argv[1], "wb") as log:
    rc = subprocess.call(sys.argv[2:], stdin=theirs, stdout=theirs, stderr=log,
                         start_new_session=True, timeout=30)
after = fcntl.fcntl(theirs.fileno(), fcntl.F_GETFL)
theirs.close()
got = b""
while True:
    b = mine.recv(65536)
    if not b:
        break
    got += b
assert rc == 0, "exit %d" % rc
assert got.startswith(b"HTTP/1.0 200") or got.startswith(b"HTTP/1.1 200"), got[:80]
assert after == before, "flags %#o before, %#o after (O_NONBLOCK left set)" % (before, after)
PY
	hl_fail "--stdio with stdin and stdout on one socket: $(cat "$HL_W/sameio.out")"
grep -q "attached to the instance $MASTER" "$HL_W/sameio.log" ||
	hl_fail "--stdio with stdin and stdout on one socket did not attach"
hl_log "stdin and stdout on one socket: relayed, its flags given back"

# --- a socket whose listener takes no connections (its backlog is full: a stopped or
# stuck instance) does not hang --stdio: it logs in itself (here: exit 2, no password)
FULL=$HL_W/full.sock
"$HL_PY" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
held = []
while True:  # fill the backlog, never accept
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(sys.argv[1])
    except BlockingIOError:
        break
    held.append(c)
print("full", flush=True)
time.sleep(120)
' "$FULL" >"$HL_W/full.txt" 2>&1 &
FULL_PID=$!
HL_PIDS+=("$FULL_PID")
for _ in $(seq 50); do grep -qs full "$HL_W/full.txt" && break; sleep 0.1; done
grep -qs full "$HL_W/full.txt" || hl_fail "the listener with a full backlog did not start"
run_stdio fullbacklog "" --control-path "$FULL" --stdio "intranet.test:$HTTP_PORT"
hl_stop_pid "$FULL_PID"
[ "$RC" -ne 124 ] || hl_fail "--stdio hung on a socket whose backlog is full"
[ "$RC" -eq 2 ] || hl_fail "--stdio next to a socket with a full backlog: exit $RC, expected 2 (login, no password)"
grep -q "does not take connections" "$LOG" ||
	hl_fail "--stdio did not say why it did not attach: $(tail -3 "$LOG")"
hl_log "a socket with a full backlog: --stdio does not hang, logs in"


# --- --no-attach logs in
run_stdio noattach "$HL_PASS" --no-attach --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--no-attach: exit $RC"
check_body "--no-attach"
grep -q "attached to the instance" "$LOG" && hl_fail "--no-attach attached"
expect_logins 2 "--no-attach"
hl_log "--no-attach: logged in itself"

# --- a second instance for the account leaves the socket to the first
hl_proxy_start second -v
grep -q "another instance already serves $SOCK" "$HL_PROXY_LOG" ||
	hl_fail "the second instance does not say that the socket is taken"
hl_proxy_stop
[ -S "$SOCK" ] || hl_fail "the second instance removed the first one's socket"
run_stdio after-second "" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--stdio after the second instance: exit $RC"
grep -q "attached to the instance $MASTER through" "$LOG" ||
	hl_fail "--stdio after the second instance did not attach to the first"
expect_logins 3 "the second instance"

# --- the configuration is shown; --control-path moves the socket for both sides
"$HL_PROXY_BIN" "${STDIO_ARGS[@]}" --stdio "intranet.test:$HTTP_PORT" --control-path /x/c.sock \
	--no-attach --check-config >"$HL_W/check.txt" 2>&1 || hl_fail "--check-config failed"
{ grep -q '^control-path = /x/c.sock' "$HL_W/check.txt" && grep -q '^no-attach = yes' "$HL_W/check.txt"; } ||
	hl_fail "--check-config does not show control-path / no-attach: $(cat "$HL_W/check.txt")"
CTL=$HL_W/ctl.sock
hl_proxy_start ctl -v --control-path "$CTL"
CTL_PID=$HL_PROXY_PID
[ -S "$CTL" ] || hl_fail "--control-path: no socket at $CTL"
run_stdio ctlpath "" --control-path "$CTL" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--stdio --control-path: exit $RC"
check_body "--stdio --control-path"
grep -q "attached to the instance $CTL_PID through $CTL" "$LOG" ||
	hl_fail "--stdio --control-path did not attach to instance $CTL_PID"
hl_proxy_stop
[ ! -e "$CTL" ] || hl_fail "--control-path: the socket stayed after the instance stopped"
expect_logins 4 "--control-path"

# --- a socket served by another user is not attached to (as root: a fake SOCKS5
# server running as uid 65534 in a directory both can write)
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '' 2>/dev/null; then
	OTHER_DIR=$(mktemp -d /tmp/sevpn-other.XXXXXX)
	chmod 777 "$OTHER_DIR"
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(64)
    c.sendall(b"\x05\x00")
    c.recv(300)
    c.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00HTTP/1.0 200 OK\r\n\r\nstolen")
    c.close()
' "$OTHER_DIR/other.sock" >"$HL_W/other.txt" 2>&1 &
	OTHER_PID=$!
	HL_PIDS+=("$OTHER_PID")
	for _ in $(seq 50); do grep -qs listening "$HL_W/other.txt" && break; sleep 0.1; done
	[ -S "$OTHER_DIR/other.sock" ] || { rm -rf "$OTHER_DIR"; hl_fail "the other user's server did not start"; }
	run_stdio other "" --control-path "$OTHER_DIR/other.sock" --stdio "intranet.test:$HTTP_PORT"
	hl_stop_pid "$OTHER_PID"
	rm -rf "$OTHER_DIR"
	grep -q "stolen" "$OUT" && hl_fail "--stdio attached to another user's socket"
	grep -q "served by another user's process" "$LOG" ||
		hl_fail "--stdio did not say why it did not attach to another user's socket"
	[ "$RC" -eq 2 ] || hl_fail "--stdio next to another user's socket: exit $RC, expected 2 (login, no password)"
	hl_log "a socket served by another user is not attached to"
fi

# --- the instance stops: its socket goes; --stdio then logs in itself
HL_PROXY_PID=$MASTER
hl_proxy_stop
[ ! -e "$SOCK" ] || hl_fail "the socket stayed after the instance stopped"
run_stdio nomaster "" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 2 ] || hl_fail "--stdio without an instance nor a password: exit $RC, expected 2"
run_stdio own "$HL_PASS" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--stdio without an instance: exit $RC"
check_body "--stdio without an instance"
expect_logins 5 "--stdio without an instance"
hl_log "without an instance --stdio logs in itself"

# --- a stale socket file: --stdio passes it over, the next instance replaces it
"$HL_PY" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || hl_fail "could not leave a stale socket"
run_stdio stale "$HL_PASS" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--stdio with a stale socket: exit $RC"
check_body "--stdio with a stale socket"
expect_logins 6 "--stdio with a stale socket"
hl_proxy_start master2 -v
grep -q "removing a stale socket file" "$HL_PROXY_LOG" || hl_fail "the stale socket was not replaced"
run_stdio after-stale "" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 0 ] || hl_fail "--stdio after the stale socket was replaced: exit $RC"
grep -q "attached to the instance $HL_PROXY_PID" "$LOG" || hl_fail "--stdio did not attach to the new instance"
hl_proxy_stop
expect_logins 7 "the instance replacing a stale socket"
hl_log "a stale socket: passed over, then replaced"

# --- a directory others may enter is refused
chmod 755 "$MUXDIR"
hl_proxy_start open -v
grep -q "open to other users" "$HL_PROXY_LOG" || hl_fail "a 0755 socket directory was not refused"
ls "$MUXDIR"/*.sock >/dev/null 2>&1 && hl_fail "a socket was made in a 0755 directory"
run_stdio opendir "" --stdio "intranet.test:$HTTP_PORT"
[ "$RC" -eq 2 ] || hl_fail "--stdio with an open directory: exit $RC, expected 2 (no attach, no password)"
hl_proxy_stop
hl_log "a socket directory open to others is refused"
hl_log "PASS"
