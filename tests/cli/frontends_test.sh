#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The local front-ends end to end against the test hub (no root): a web page fetched
# through each of them.
#  - SOCKS5 without credentials (curl --socks5-hostname), SOCKS4a (--socks4a), SOCKS4 with
#    an address (--socks4);
#  - SOCKS5 with --proxy-user and SEVPN_PROXY_PASSWORD (socks5h://user:pass@), a wrong
#    password refused, SOCKS4 refused on that listener, the password from
#    --proxy-password-file;
#  - the one-port --proxy listener with SOCKS5, SOCKS4a, SOCKS4, HTTP (an http:// URL
#    and CONNECT), and --http; HTTP with credentials (407 without them); POST bodies
#    with Content-Length and chunked; a request pipelined after the first is never
#    relayed raw as part of the first exchange (it is a request of its own, rewritten,
#    which may reuse the origin connection);
#  - a Unix socket listener (mode 0600; python3 speaks SOCKS5 over it), a stale socket
#    file replaced, a live one refused;
#  - SOCKS5 data and EOF sent right after the request, before the reply, are relayed;
#  - --idle-timeout closes a relayed connection without traffic; --max-clients closes
#    the client past the limit at once; both logged;
#  - a listener on a non-loopback address refused without credentials (exit 2 and a
#    message) and accepted with --allow-unauthenticated-remote (--check-config).
# usage: frontends_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init frontends "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub
hl_http_start
WANT=$(sha256sum "$HL_W/www/small.txt" | cut -d' ' -f1)
HTTP_PORT=${HL_URL##*:}
IP_URL=http://10.77.0.1:$HTTP_PORT/small.txt
NAME_URL=$HL_URL/small.txt

# get WHAT CURL-ARGS...: fetches, fails the test unless the page arrived intact.
get() {
	local what=$1 got
	shift
	got=$(curl -sS --max-time 20 "$@" | sha256sum | cut -d' ' -f1) || true
	[ "$got" = "$WANT" ] || hl_fail "$what: the page did not arrive"
}
# refused WHAT CURL-ARGS...: the fetch must fail.
refused() {
	local what=$1
	shift
	if curl -sS --max-time 20 -o /dev/null "$@" 2>"$HL_W/curl-refused.txt"; then
		hl_fail "$what: succeeded, expected a refusal"
	fi
}

# --- no credentials: --socks (SOCKS5, 4a, 4), --proxy (all), --http, a Unix socket
PROXY_P=127.0.0.1:$(hl_free_port)
HTTP_P=127.0.0.1:$(hl_free_port)
SOCK=$HL_W/s.sock
: >"$HL_W/not-a-socket"
# a stale socket file: bound once, nobody listens on it any more
"$HL_PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
hl_proxy_start open -v --connect-timeout 5 --proxy "$PROXY_P" --http "$HTTP_P" --socks "unix:$SOCK"
S=$HL_SOCKS
get "SOCKS5 by name" --socks5-hostname "$S" "$NAME_URL"
get "SOCKS4a by name" --socks4a "$S" "$NAME_URL"
get "SOCKS4 by address" --socks4 "$S" "$IP_URL"
get "SOCKS5 by address" --socks5 "$S" "$IP_URL"
hl_log "--socks: SOCKS5 (name, address), SOCKS4a, SOCKS4 ok"
get "--proxy SOCKS5" --proxy "socks5h://$PROXY_P" "$NAME_URL"
get "--proxy SOCKS4a" --proxy "socks4a://$PROXY_P" "$NAME_URL"
get "--proxy SOCKS4" --proxy "socks4://$PROXY_P" "$IP_URL"
get "--proxy HTTP" --proxy "http://$PROXY_P" "$NAME_URL"
get "--proxy HTTP CONNECT" --proxytunnel --proxy "http://$PROXY_P" "$NAME_URL"
get "--http" --proxy "http://$HTTP_P" "$NAME_URL"
get "--http CONNECT" --proxytunnel --proxy "http://$HTTP_P" "$IP_URL"
code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --proxy "http://$HTTP_P" \
	"http://no-such-host.test/") || true
[ "$code" = 502 ] || hl_fail "--http: an unknown host answered $code, expected 502"
hl_log "--proxy: SOCKS5, SOCKS4a, SOCKS4, HTTP, CONNECT ok; --http ok, 502 for no such host"

# request bodies through the HTTP proxy (Content-Length and chunked), and a request
# pipelined after one is never relayed to the first one's origin
cat >"$HL_W/echo.py" <<'PY'
import hashlib, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.requestline + "\n")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = hashlib.sha256(body).hexdigest().encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        if self.path.endswith("/first"):
            # whatever follows the first request on this connection
            self.wfile.flush()
            self.connection.settimeout(1.0)
            try:
                extra = self.rfile.read1(65536)
            except OSError:
                extra = b""
            with open(sys.argv[2], "a") as f:
                f.write("after /first: %r\n" % extra)
    do_GET = do_POST
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening", flush=True)
s.serve_forever()
PY
ECHO_PORT=$(hl_free_port)
"$HL_PY" "$HL_W/echo.py" "$ECHO_PORT" "$HL_W/echo-requests.txt" >"$HL_W/echo.out" 2>"$HL_W/echo.log" &
HL_PIDS+=($!)
for _ in $(seq 50); do grep -qs listening "$HL_W/echo.out" && break; sleep 0.1; done
head -c 1048576 /dev/urandom >"$HL_W/body.bin"
BODY_SHA=$(sha256sum "$HL_W/body.bin" | cut -d' ' -f1)
got=$(curl -sS --max-time 20 --proxy "http://$HTTP_P" --data-binary "@$HL_W/body.bin" \
	"http://intranet.test:$ECHO_PORT/post") || true
[ "$got" = "$BODY_SHA" ] || hl_fail "HTTP POST with Content-Length: the body did not arrive ($got)"
got=$(curl -sS --max-time 20 --proxy "http://$PROXY_P" -H "Transfer-Encoding: chunked" \
	--data-binary "@$HL_W/body.bin" "http://intranet.test:$ECHO_PORT/chunked") || true
[ "$got" = "$BODY_SHA" ] || hl_fail "HTTP POST chunked: the body did not arrive ($got)"
"$HL_PY" - "$HTTP_P" "intranet.test:$ECHO_PORT" >"$HL_W/pipelined.out" 2>&1 <<'PY'
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=20)
t = sys.argv[2]
s.sendall(("POST http://%s/first HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\nhello"
           "GET http://%s/leak HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic eDp5\r\n\r\n"
           % (t, t, t, t)).encode())
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.decode(errors="replace"))
PY
grep -q "^POST /first HTTP/1.1" "$HL_W/echo-requests.txt" || hl_fail "the first pipelined request did not arrive"
# after the first exchange, the origin sees nothing, or (its connection kept for the
# next request to the same origin) the next request rewritten as a request of its own:
# never the client's raw bytes with their Proxy-Authorization
grep -Eq "^after /first: b('|'GET /leak HTTP/1.1\\\\r\\\\nHost: [^\\\\]*\\\\r\\\\n\\\\r\\\\n)'\$" \
	"$HL_W/echo-requests.txt" ||
	hl_fail "a pipelined second request was relayed raw to the first origin: $(cat "$HL_W/echo-requests.txt")"
grep -q "$(printf hello | sha256sum | cut -d' ' -f1)" "$HL_W/pipelined.out" || hl_fail "no answer to the first pipelined request"
hl_log "HTTP request bodies (Content-Length, chunked) ok; a pipelined next request is not relayed"

[ -S "$SOCK" ] || hl_fail "no Unix socket at $SOCK"
mode=$(stat -c %a "$SOCK")
[ "$mode" = 600 ] || hl_fail "Unix socket mode $mode, expected 600"
grep -q "stale socket" "$HL_PROXY_LOG" || hl_fail "the stale socket file was not reported"
"$HL_PY" - "$SOCK" "${HL_URL#http://}" >"$HL_W/unix.out" 2>"$HL_W/unix.log" <<'PY'
import socket, struct, sys
path, hostport = sys.argv[1], sys.argv[2]
host, port = hostport.rsplit(":", 1)
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(path)
def recv(n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise SystemExit("EOF during the SOCKS5 handshake")
        b += d
    return b
s.sendall(b"\x05\x01\x00")
assert recv(2) == b"\x05\x00", "method"
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", int(port)))
rep = recv(4)
assert rep[1] == 0, "reply %d" % rep[1]
recv(6 if rep[3] == 1 else 18)
s.sendall(b"GET /small.txt HTTP/1.0\r\nHost: " + hostport.encode() + b"\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
sys.stdout.buffer.write(data.split(b"\r\n\r\n", 1)[1])
PY
[ "$(sha256sum <"$HL_W/unix.out" | cut -d' ' -f1)" = "$WANT" ] || hl_fail "SOCKS5 over the Unix socket: no page"
hl_log "Unix socket listener: mode 600, stale file replaced, SOCKS5 over it ok"

# a second instance may not take over a live socket, nor a file that is not a socket
hl_proxy_run live "$HL_PASS" --socks "unix:$SOCK"
case $HL_RC in 0 | 124) hl_fail "a live Unix socket was taken over (exit $HL_RC)" ;; esac
grep -qi "address already in use" "$HL_RUN_LOG" || hl_fail "no message for a live Unix socket"
hl_proxy_run notsock "$HL_PASS" --socks "unix:$HL_W/not-a-socket"
case $HL_RC in 0 | 124) hl_fail "a regular file was replaced (exit $HL_RC)" ;; esac
[ -f "$HL_W/not-a-socket" ] || hl_fail "the regular file was removed"
hl_log "a live socket and a regular file at the path are refused"
hl_proxy_stop
[ -e "$SOCK" ] && hl_fail "the Unix socket file was left behind"

# --- credentials
USERNAME=fe-user
PW="pw $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
PW_URL=${PW// /%20}
PROXY_P=127.0.0.1:$(hl_free_port)
SEVPN_PROXY_PASSWORD=$PW hl_proxy_start auth --connect-timeout 5 --proxy-user "$USERNAME" \
	--proxy "$PROXY_P"
S=$HL_SOCKS
get "SOCKS5 with credentials" --proxy "socks5h://$USERNAME:$PW_URL@$S" "$NAME_URL"
refused "SOCKS5 with a wrong password" --proxy "socks5h://$USERNAME:wrong@$S" "$NAME_URL"
grep -q "wrong proxy user name or password" "$HL_PROXY_LOG" || hl_fail "no log line for the wrong password"
refused "SOCKS5 without credentials" --socks5-hostname "$S" "$NAME_URL"
grep -q "does not offer username/password" "$HL_PROXY_LOG" || hl_fail "no log line for a client without credentials"
refused "SOCKS4a on an authenticated listener" --socks4a "$S" "$NAME_URL"
grep -q "SOCKS4 cannot carry" "$HL_PROXY_LOG" || hl_fail "no log line for the SOCKS4 refusal"
get "--proxy SOCKS5 with credentials" --proxy "socks5h://$USERNAME:$PW_URL@$PROXY_P" "$NAME_URL"
get "--proxy HTTP with credentials" --proxy "http://$PROXY_P" --proxy-user "$USERNAME:$PW" "$NAME_URL"
get "--proxy CONNECT with credentials" --proxytunnel --proxy "http://$PROXY_P" \
	--proxy-user "$USERNAME:$PW" "$NAME_URL"
code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --proxy "http://$PROXY_P" \
	"$NAME_URL") || true
[ "$code" = 407 ] || hl_fail "HTTP without credentials answered $code, expected 407"
code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --proxy "http://$PROXY_P" \
	--proxy-user "$USERNAME:nope" "$NAME_URL") || true
[ "$code" = 407 ] || hl_fail "HTTP with a wrong password answered $code, expected 407"
grep -qF "$PW" "$HL_PROXY_LOG" && hl_fail "the proxy password appears in the log"
hl_log "credentials: SOCKS5 and HTTP accepted; wrong or missing ones refused (407); SOCKS4 refused"
hl_proxy_stop

printf '%s\n' "$PW" >"$HL_W/proxy-pw"
hl_proxy_start authfile --connect-timeout 5 --proxy-user "$USERNAME" --proxy-password-file "$HL_W/proxy-pw"
get "SOCKS5 with the password from a file" --proxy "socks5h://$USERNAME:$PW_URL@$HL_SOCKS" "$NAME_URL"
hl_proxy_stop
hl_log "--proxy-password-file ok"

# --- a SOCKS5 client that sends its data and its EOF right after the request, before
# the reply (read while the proxy connects): the data goes first, then the EOF
hl_proxy_start early --connect-timeout 5
"$HL_PY" - "$HL_SOCKS" "${HL_URL#http://}" "$WANT" >"$HL_W/early.out" 2>"$HL_W/early-py.log" <<'PY'
import hashlib, socket, struct, sys
(sh, sp), hostport, want = sys.argv[1].rsplit(":", 1), sys.argv[2], sys.argv[3]
host, port = hostport.rsplit(":", 1)
s = socket.create_connection((sh, int(sp)), timeout=10)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
get = ("GET /small.txt HTTP/1.0\r\nHost: %s\r\n\r\n" % hostport).encode()
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() +
          struct.pack(">H", int(port)) + get)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
assert got[:2] == b"\x05\x00", got[:10]
body = got[10:].split(b"\r\n\r\n", 1)[1]
assert hashlib.sha256(body).hexdigest() == want, "the page did not arrive"
print("ok")
PY
grep -q '^ok' "$HL_W/early.out" || hl_fail "data and EOF before the SOCKS5 reply: $(cat "$HL_W/early-py.log")"
hl_proxy_stop
hl_log "SOCKS5: data and EOF sent before the reply are relayed in order"

# --- limits: --max-clients (the one past it is closed at once, with a log line) and
# --idle-timeout (a relayed connection with no traffic is closed)
hl_proxy_start limits --connect-timeout 5 --max-clients 2 --idle-timeout 1
"$HL_PY" - "$HL_SOCKS" "${HL_URL#http://}" >"$HL_W/limits.out" 2>"$HL_W/limits-py.log" <<'PY'
import socket, struct, sys, time
(sh, sp), hostport = sys.argv[1].rsplit(":", 1), sys.argv[2]
host, port = hostport.rsplit(":", 1)
def connect():
    s = socket.create_connection((sh, int(sp)), timeout=10)
    return s
# idle: a relayed connection that carries nothing is closed after about a second
s = connect()
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", int(port)))
rep = s.recv(10)
assert rep[1] == 0, rep
t0 = time.time()
assert s.recv(1) == b"", "data on an idle connection"
idle = time.time() - t0
assert 0.5 <= idle <= 5, "closed after %.1f s" % idle
s.close()
time.sleep(0.3)
# limit: two clients held open, the third is closed at once
held = [connect(), connect()]
time.sleep(0.3)
third = connect()
t0 = time.time()
assert third.recv(1) == b"", "the third client was served"
assert time.time() - t0 < 3, "the third client was not closed at once"
for h in held:
    h.close()
time.sleep(0.3)
fourth = connect()
fourth.sendall(b"\x05\x01\x00")
assert fourth.recv(2) == b"\x05\x00", "not served once below the limit"
print("ok idle %.1f" % idle)
PY
grep -q '^ok' "$HL_W/limits.out" || hl_fail "limits: $(cat "$HL_W/limits-py.log")"
grep -q "idle for 1 s (--idle-timeout)" "$HL_PROXY_LOG" || hl_fail "no log line for the idle close"
grep -q "the limit (--max-clients 2)" "$HL_PROXY_LOG" || hl_fail "no log line for the client limit"
grep -q "below the client limit again; 1 client(s) were refused" "$HL_PROXY_LOG" ||
	hl_fail "no log line for leaving the client limit"
hl_proxy_stop
hl_log "--idle-timeout closes an idle relay; --max-clients refuses the one past it, with logs"

# --- a listener other machines can reach needs credentials
for flag in --socks --proxy --http; do
	hl_proxy_run remote "$HL_PASS" "$flag" "0.0.0.0:$(hl_free_port)"
	[ "$HL_RC" -eq 2 ] || hl_fail "$flag 0.0.0.0 without credentials: exit $HL_RC, expected 2"
	grep -q "reachable from other machines" "$HL_RUN_LOG" || hl_fail "$flag 0.0.0.0: no message"
done
hl_proxy_run remote-ok "$HL_PASS" --socks "0.0.0.0:$(hl_free_port)" --allow-unauthenticated-remote --check-config
[ "$HL_RC" -eq 0 ] || hl_fail "--allow-unauthenticated-remote --check-config: exit $HL_RC"
SEVPN_PROXY_PASSWORD=x hl_proxy_run remote-auth "$HL_PASS" --http "0.0.0.0:$(hl_free_port)" \
	--proxy-user u --check-config
[ "$HL_RC" -eq 0 ] || hl_fail "a remote listener with credentials: exit $HL_RC"
hl_proxy_run nopw "$HL_PASS" --proxy-user u --check-config
[ "$HL_RC" -eq 2 ] || hl_fail "--proxy-user without a password: exit $HL_RC, expected 2"
hl_log "non-loopback listeners: refused without credentials (exit 2), allowed with them or the flag"
hl_log "PASS"
