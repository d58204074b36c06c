#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The HTTP proxy front-end (--http) end to end against the test hub (no root), with a
# small keep-alive origin (tests/cli/http_origin.py) on the hub's LAN:
#  - several URLs in ONE curl invocation: all arrive, over one client connection
#    (curl says "Re-using existing connection"), to the same origin and to another one;
#  - the origin connection is reused for the next request to the same origin (after
#    GET, HEAD, 204, chunked, POST), and replaced after the origin's "Connection:
#    close", a request elsewhere, a close-delimited response, the client's close and
#    4.5 s idle (the origin numbers its connections);
#  - POST with a body (Content-Length and chunked), HEAD, 204, a chunked response, a
#    close-delimited response; hop-by-hop headers of the origin (Keep-Alive) removed;
#  - GET /proxy.pac: the lease's network (isInNet 10.77.0.0/255.255.255.0) through
#    "PROXY <the Host header>", everything else DIRECT;
#  - errors: 400 (bad request), 407 with a Basic challenge (credentials on), 502 (port
#    refused, unknown name), 504 (connect timeout).
# usage: http_proxy_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init httpproxy "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
hl_hub_start hub
hl_http_start
HTTP_PORT=${HL_URL##*:}

# the keep-alive origin
"$HL_PY" "$HERE/http_origin.py" "$HL_W/origin.port" >"$HL_W/origin.txt" 2>&1 &
HL_PIDS+=($!)
n=50
until [ -s "$HL_W/origin.port" ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || hl_fail "the origin did not start"
	sleep 0.1
done
O=http://intranet.test:$(cat "$HL_W/origin.port")

HTTP_P=127.0.0.1:$(hl_free_port)
hl_proxy_start open -v --connect-timeout 2 --http "$HTTP_P"
C=(curl -sS --max-time 20 --proxy "http://$HTTP_P")

# want WHAT EXPECTED GOT
want() { [ "$2" = "$3" ] || hl_fail "$1: expected [$2], got [$3]"; }

# --- several requests on one client connection, to two origins
"${C[@]}" -v "$O/a" "$O/b" "$HL_URL/small.txt" "$O/c" >"$HL_W/multi.out" 2>"$HL_W/multi.err"
want "four URLs in one invocation" "path /a
path /b
hello through the hub
path /c" "$(cat "$HL_W/multi.out")"
grep -q "Re-using existing connection" "$HL_W/multi.err" ||
	hl_fail "curl did not reuse the proxy connection: $(grep -i 'connect\|closing' "$HL_W/multi.err" | head -5)"
# ... and in the proxy's log: the four requests came on one client connection
ids=$(grep -o 'conn [0-9]*: http: 127.0.0.1:[0-9]* -> ' "$HL_PROXY_LOG" | head -4 | cut -d: -f1 | sort -u)
want "four requests, one client connection" 1 "$(printf '%s\n' "$ids" | wc -l)"
# the origin connection is kept for the next request to the same origin (the origin
# numbers its TCP connections: /conn)
c1=$("${C[@]}" "$O/conn" "$O/conn" | tr '\n' ' ')
case $c1 in "conn "[0-9]*" conn "[0-9]*" ") ;; *) hl_fail "two /conn requests: [$c1]" ;; esac
read -r _ n1 _ n2 <<<"$c1"
want "two requests on one client connection: one origin connection" "$n1" "$n2"
# ... across every kind of response framing, and given up when it must be: the origin
# says close, the next request goes elsewhere, the response is close-delimited, the
# client says close, or it stayed idle for more than 4 s
"$HL_PY" - "$HTTP_P" "$O" "$HL_URL" >"$HL_W/reuse.out" 2>&1 <<'PY' || hl_fail "origin reuse: $(cat "$HL_W/reuse.out")"
import http.client, sys, time
host, port = sys.argv[1].rsplit(":", 1)
O, OTHER = sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection(host, int(port), timeout=20)

def req(method, path, body=None, headers=None, base=O):
    c.request(method, base + path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read().decode(), r.getheader("Connection")

def conn_no():
    st, b, _ = req("GET", "/conn")
    assert st == 200 and b.startswith("conn "), (st, b)
    return int(b.split()[1])

def same(what, a, b):
    if a != b:
        sys.exit("%s: origin connection %d, then %d (expected the same)" % (what, a, b))

def new(what, a, b):
    if a == b:
        sys.exit("%s: origin connection %d reused (expected a new one)" % (what, a))

a = conn_no()
same("GET, GET", a, conn_no())
st, b, _ = req("HEAD", "/conn")
assert st == 200 and b == "", (st, b)
same("after HEAD", a, conn_no())
st, b, _ = req("GET", "/nocontent")
assert st == 204 and b == "", (st, b)
same("after 204", a, conn_no())
st, b, _ = req("GET", "/chunked")
assert b == "chunk-one chunk-two\n", b
same("after a chunked response", a, conn_no())
st, b, _ = req("POST", "/echo", body=b"x" * 100000)
assert b == "x" * 100000, len(b)
same("after a POST with a body", a, conn_no())
st, b, _ = req("GET", "/lastone")
assert b == "last\n", b
b2 = conn_no()
new("after the origin said close", a, b2)
st, b, _ = req("GET", "/small.txt", base=OTHER)
assert b == "hello through the hub\n", b
c3 = conn_no()
new("after a request to another origin", b2, c3)
same("then again", c3, conn_no())
st, b, conn_hdr = req("GET", "/close")
assert b == "closed-body\n" and conn_hdr == "close", (b, conn_hdr)
c.close()  # the proxy closed the client connection too
d = conn_no()
new("after a close-delimited response", c3, d)
st, b, conn_hdr = req("GET", "/conn", headers={"Connection": "close"})
assert conn_hdr == "close" and b == "conn %d\n" % d, (b, conn_hdr)  # reused, then closed
c.close()
e = conn_no()
new("after the client said close", d, e)
time.sleep(4.5)
f = conn_no()
new("after 4.5 s idle", e, f)
print("reuse: HEAD, 204, chunked, POST kept; close/elsewhere/close-delimited/idle renewed")
PY
grep -q "reusing the connection to intranet.test" "$HL_PROXY_LOG" || hl_fail "no reuse in the log"
hl_log "$(cat "$HL_W/reuse.out")"
# POST then GET on the same connection (--next keeps it)
want "POST, then GET" "hello-postpath /get" \
	"$("${C[@]}" --data-binary hello-post "$O/echo" --next -sS --proxy "http://$HTTP_P" "$O/get")"
# two requests pipelined in one write: both answered, in order
pipe=$("$HL_PY" -c '
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
o = sys.argv[2]
s = socket.create_connection((h, int(p)), timeout=10)
req = "GET %s/p1 HTTP/1.1\r\nHost: x\r\n\r\nGET %s/p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (o, o)
s.sendall(req.encode())
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
import re
print("|".join(re.findall(r"HTTP/1\.1 \d+ OK|path /p\d", data.decode())))' "$HTTP_P" "$O")
want "pipelined" "HTTP/1.1 200 OK|path /p1|HTTP/1.1 200 OK|path /p2" "$pipe"

# --- bodies, HEAD, 204, chunked and close-delimited responses
want "POST Content-Length" "hello-post" "$("${C[@]}" --data-binary hello-post "$O/echo")"
want "POST chunked" "hello-chunked" "$("${C[@]}" -H 'Transfer-Encoding: chunked' --data-binary hello-chunked "$O/echo")"
want "chunked response" "chunk-one chunk-two" "$("${C[@]}" "$O/chunked")"
"${C[@]}" -D "$HL_W/chunked.head" -o /dev/null "$O/chunked"
grep -qi '^Transfer-Encoding: chunked' "$HL_W/chunked.head" || hl_fail "chunked: Transfer-Encoding lost"
grep -qi '^X-Origin: yes' "$HL_W/chunked.head" || hl_fail "chunked: end-to-end header lost"
if grep -qi '^Keep-Alive:' "$HL_W/chunked.head"; then hl_fail "hop-by-hop Keep-Alive relayed"; fi
want "close-delimited response" "closed-body" "$("${C[@]}" "$O/close")"
want "HEAD" "200" "$("${C[@]}" -I -o /dev/null -w '%{http_code}' "$O/x")"
want "204" "204" "$("${C[@]}" -o /dev/null -w '%{http_code}' "$O/nocontent")"
# HEAD, 204, chunked, close, then a normal one: all in one invocation
want "mixed in one invocation" "chunk-one chunk-two
path /after
closed-body
path /last" "$("${C[@]}" "$O/nocontent" "$O/chunked" "$O/after" "$O/close" "$O/last")"

# --- PAC
"${C[@]}" -D "$HL_W/pac.head" -o "$HL_W/pac.js" "http://$HTTP_P/proxy.pac" --noproxy '*'
grep -qi '^HTTP/1.1 200' "$HL_W/pac.head" || hl_fail "PAC: $(head -1 "$HL_W/pac.head")"
grep -qi '^Content-Type: application/x-ns-proxy-autoconfig' "$HL_W/pac.head" ||
	hl_fail "PAC: content type"
grep -q 'function FindProxyForURL' "$HL_W/pac.js" || hl_fail "PAC: no FindProxyForURL"
grep -q 'isInNet(ip, "10.77.0.0", "255.255.255.0")' "$HL_W/pac.js" ||
	hl_fail "PAC: the lease's network is missing: $(cat "$HL_W/pac.js")"
grep -q "PROXY $HTTP_P" "$HL_W/pac.js" || hl_fail "PAC: the proxy address is missing"
tail -3 "$HL_W/pac.js" | grep -q 'return "DIRECT";' || hl_fail "PAC: no DIRECT default"
want "other origin-form path" "404" "$(curl -sS -o /dev/null -w '%{http_code}' "http://$HTTP_P/other")"

# --- errors
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@" || true; }
want "refused port: 502" "502" "$(code "http://10.77.0.1:1/")"
want "unknown name: 502" "502" "$(code "http://nosuch.test/")"
want "connect timeout: 504" "504" "$(code "http://10.77.0.200:80/")"
bad=$(printf 'GET http://intranet.test/ HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n' |
	"$HL_PY" -c '
import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(sys.stdin.buffer.read())
print(s.recv(100).split(b"\r\n")[0].decode())' "$HTTP_P")
want "smuggling attempt: 400" "HTTP/1.1 400 Bad Request" "$bad"
hl_proxy_stop

# --- credentials: 407 with a Basic challenge; accepted on a kept connection
HTTP_P=127.0.0.1:$(hl_free_port)
SEVPN_PROXY_PASSWORD=pp hl_proxy_start auth --http "$HTTP_P" --proxy-user u
"${C[@]}" --proxy "http://$HTTP_P" -D "$HL_W/407.head" -o /dev/null "$O/a"
grep -q '^HTTP/1.1 407' "$HL_W/407.head" || hl_fail "no 407 without credentials"
grep -qi '^Proxy-Authenticate: Basic realm=' "$HL_W/407.head" || hl_fail "407 without a Basic challenge"
want "with credentials, two URLs" "path /a
path /b" "$("${C[@]}" --proxy "http://u:pp@$HTTP_P" "$O/a" "$O/b")"
hl_proxy_stop
hl_log "PASS"
