#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The local front-ends against the real SoftEther VPN Server (issue 4's tests on the real
# server; tests/cli/*.sh run the same against the test hub). One instance with --socks,
# --http, two -L and one -R serves most of it; a second one with --proxy-user checks
# credentials; ssh starts a third one as its ProxyCommand (--stdio); a fourth is stopped
# as soon as it is ready (lease release without an ARP entry). Every outcome is
# checked on the other end: sha256 of bodies, echoed bytes, DNS answers, the LAN-side
# logs (dnsmasq, sshd).
#  - curl --socks5-hostname (name resolved over the VPN), --socks5, --socks4a, --socks4;
#  - the HTTP proxy: absolute-form GET, POST with Content-Length and chunked bodies (the
#    LAN server answers their sha256), PUT, https:// through CONNECT to an openssl
#    s_server on the LAN (certificate verified by curl), 502 for an unknown name;
#  - a DNS query to the LAN's dnsmasq through SOCKS5 UDP ASSOCIATE (python3 client);
#  - -L TCP (a page through 127.0.0.1) and -L udp (a DNS query to dnsmasq);
#  - -R: the LAN namespace fetches a page from a server in the client's namespace through
#    the client's tunnel address;
#  - SOCKS5 BIND: the LAN namespace connects to the announced address; data both ways;
#  - ssh (Debian's openssh-server in the LAN namespace) with
#    ProxyCommand='sevpn-proxy ... --stdio %h:%p', host key checked, as the unprivileged
#    user: a marker and the sha256 of 1 MiB sent on stdin come back;
#  - --proxy-user with SEVPN_PROXY_PASSWORD: SOCKS5 and HTTP (also CONNECT) accepted with
#    the right password, refused with a wrong one (SOCKS5 failure, HTTP 407) or none,
#    SOCKS4 refused; the password never logged;
#  - every instance gives its lease back on exit (DHCPRELEASE in dnsmasq's log): SIGTERM,
#    the end of --stdio (ssh sends SIGHUP), and SIGTERM right after the ready line.
# Usage: realserver_frontends.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init frontends
for t in /usr/sbin/sshd ssh ssh-keygen; do
	command -v "$t" >/dev/null 2>&1 ||
		sv_fail "$t not found: install openssh-server and openssh-client (scripts/install-deps.sh --integration)"
done
sv_net_up
sv_lan_up 8
sv_server_up
sv_proxy_prepare "$1"

LAN=$SV_ROOT/lan
WWW=$LAN/www
H=$SV_ROOT/home
HTTP_P=127.0.0.1:8080
LT=9001    # -L TCP to intranet.test:80
LU=9053    # -L udp to the LAN's DNS
RP=8022    # -R on the tunnel address to the client namespace's web server
RLOCAL=8088

# --- more on the LAN: a TLS server (openssl s_server -WWW serves $WWW) and sshd ---------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$SV_LAN_NAME" \
	-addext "subjectAltName=DNS:$SV_LAN_NAME" -keyout "$LAN/tls.key" -out "$LAN/tls.crt" \
	>/dev/null 2>&1 || sv_fail "openssl could not make the LAN's TLS certificate"
(cd "$WWW" && exec ip netns exec "$SV_NS_LAN" openssl s_server -quiet -accept 443 -WWW \
	-cert "$LAN/tls.crt" -key "$LAN/tls.key") >"$LAN/tls.log" 2>&1 </dev/null &
SV_PIDS+=($!)

# sshd as root in the LAN namespace (the test LAN's host), everything of it under
# $LAN/ssh; its own mount namespace gets a private /run (privilege separation dir) and
# an /etc/shadow whose root entry is not locked (without PAM, sshd refuses a locked
# account even with a key). The one key it accepts can only run session.sh: a marker,
# then sha256sum of stdin.
S=$LAN/ssh
mkdir -m 700 "$S"
ssh-keygen -q -t ed25519 -N '' -C sv-host -f "$S/host_key"
ssh-keygen -q -t ed25519 -N '' -C sv-client -f "$H/id_ed25519"
chown "$SV_RUN_UID:$SV_RUN_GID" "$H/id_ed25519" "$H/id_ed25519.pub"
cp "$H/id_ed25519.pub" "$S/authorized_keys"
echo "$SV_LAN_NAME $(cut -d' ' -f1,2 "$S/host_key.pub")" >"$H/known_hosts"
MARKER="sevpn-ssh-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '#!/bin/sh\necho %s\nexec sha256sum\n' "$MARKER" >"$S/session.sh"
chmod 755 "$S/session.sh"
echo 'root:*:19000:0:99999:7:::' >"$S/shadow"
chmod 600 "$S/shadow"
cat >"$S/sshd_config" <<EOF
ListenAddress $SV_LAN_IP:22
ListenAddress [$SV_LAN_IP6]:22
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
PermitTTY no
ForceCommand $S/session.sh
LogLevel VERBOSE
EOF
# shellcheck disable=SC2016 # expanded by the inner sh
ip netns exec "$SV_NS_LAN" unshare --mount --propagation private sh -c '
	mount -t tmpfs -o size=1m,mode=755 sv-run /run && mkdir -m 755 /run/sshd || exit 111
	if [ -e /etc/shadow ]; then mount --bind "$0/shadow" /etc/shadow || exit 111; fi
	exec /usr/sbin/sshd -D -f "$0/sshd_config" -E "$1"' "$S" "$LAN/sshd.log" </dev/null &
SV_PIDS+=($!)
sv_wait_until 10 "sshd on the LAN" \
	sh -c "ip netns exec '$SV_NS_LAN' ss -Hltn 'sport = :22' | grep -q LISTEN"
sv_wait_until 10 "the LAN's TLS server" \
	sh -c "ip netns exec '$SV_NS_LAN' ss -Hltn 'sport = :443' | grep -q LISTEN"

# --- the client's namespace: a web server that -R leads to -----------------------------
mkdir -p "$SV_ROOT/cliwww"
head -c 1048576 /dev/urandom >"$SV_ROOT/cliwww/r.bin"
R_SHA=$(sha256sum <"$SV_ROOT/cliwww/r.bin" | cut -d' ' -f1)
ip netns exec "$SV_NS_CLI" "$SV_PY" "$SV_IT_LIB_DIR/httpd.py" "$SV_ROOT/cliwww" "$RLOCAL" \
	>"$SV_ROOT/cli-httpd.log" 2>&1 &
SV_PIDS+=($!)
sv_wait_until 10 "the client namespace's web server" \
	ip netns exec "$SV_NS_CLI" curl -sf -o /dev/null "http://127.0.0.1:$RLOCAL/r.bin"

# --- the instance under test -------------------------------------------------------------
# Its --stdio attach socket in this test's own directory: the default path is per account
# and user, so another uid-65534 instance for the same account elsewhere on the machine
# would otherwise serve (or hold) it.
MUX_DIR=$SV_ROOT/mux
mkdir -p "$MUX_DIR"
chown "$SV_RUN_UID:$SV_RUN_GID" "$MUX_DIR"
chmod 700 "$MUX_DIR"
MUX=$MUX_DIR/main.sock
sv_proxy_start --http "$HTTP_P" -L "127.0.0.1:$LT:$SV_LAN_NAME:80" \
	-L "udp:127.0.0.1:$LU:$SV_LAN_IP:53" -R "$RP:127.0.0.1:$RLOCAL" --control-path "$MUX"
MAIN_PID=$SV_PROXY_PID
MAIN_LOG=$SV_PROXY_LOG
MAIN_IP=${SV_READY_IP%/*}
sv_check_no_caps "$MAIN_PID" 2>/dev/null
case $SV_READY_LINE in *"http=$HTTP_P"*) ;; *) sv_fail "the ready line names no http=$HTTP_P" ;; esac

# released WHAT IP FROM: dnsmasq logs a DHCPRELEASE of IP after line FROM of its log within
# 5 s (every orderly exit gives the lease back).
released() {
	local n=0
	until tail -n +"$(($3 + 1))" "$LAN/dnsmasq.log" | grep -q "DHCPRELEASE.* $2 "; do
		n=$((n + 1))
		[ "$n" -le 50 ] || sv_fail "$1 exited without releasing its lease $2"
		sleep 0.1
	done
}
loglines() { wc -l <"$LAN/dnsmasq.log"; }

# fetch WHAT URL WANT_SHA CURL-ARGS...: the body must arrive intact.
fetch() {
	local what=$1 url=$2 want=$3 got
	shift 3
	got=$(SV_CURL_TIMEOUT=60 sv_curl "$@" "$url" | sha256sum | cut -d' ' -f1) || true
	if [ "$got" != "$want" ]; then
		sv_proxy_check_alive
		sv_fail "$what: $url did not arrive intact (sha256 $got)"
	fi
}

# --- SOCKS ------------------------------------------------------------------------------
BIG=http://$SV_LAN_NAME/big.bin
fetch "SOCKS5, name resolved over the VPN" "$BIG" "$SV_BIG_SHA256" --socks5-hostname "$SV_SOCKS"
fetch "SOCKS5, address" "http://$SV_LAN_IP/big.bin" "$SV_BIG_SHA256" --socks5 "$SV_SOCKS"
fetch "SOCKS4a" "$BIG" "$SV_BIG_SHA256" --socks4a "$SV_SOCKS"
fetch "SOCKS4" "http://$SV_LAN_IP/big.bin" "$SV_BIG_SHA256" --socks4 "$SV_SOCKS"
grep -q "query\[A\] $SV_LAN_NAME from $MAIN_IP" "$LAN/dnsmasq.log" ||
	sv_fail "dnsmasq saw no query for $SV_LAN_NAME from $MAIN_IP"
sv_log "SOCKS5 (name, address), SOCKS4a, SOCKS4: 8 MiB each, sha256 ok"

# --- HTTP proxy ----------------------------------------------------------------------------
HC=(--proxy "http://$HTTP_P")
fetch "HTTP proxy, absolute-form GET" "$BIG" "$SV_BIG_SHA256" "${HC[@]}"
head -c 3000000 /dev/urandom >"$SV_ROOT/body.bin"
BODY_SHA=$(sha256sum <"$SV_ROOT/body.bin" | cut -d' ' -f1)
got=$(SV_CURL_TIMEOUT=60 sv_curl "${HC[@]}" -H 'Expect:' --data-binary "@$SV_ROOT/body.bin" \
	"http://$SV_LAN_NAME/post") || true
[ "$got" = "$BODY_SHA" ] || sv_fail "HTTP proxy POST (Content-Length): the LAN server hashed '$got'"
got=$(SV_CURL_TIMEOUT=60 sv_curl "${HC[@]}" -H 'Expect:' -H 'Transfer-Encoding: chunked' \
	--data-binary "@$SV_ROOT/body.bin" "http://$SV_LAN_NAME/chunked") || true
[ "$got" = "$BODY_SHA" ] || sv_fail "HTTP proxy POST (chunked): the LAN server hashed '$got'"
got=$(SV_CURL_TIMEOUT=60 sv_curl "${HC[@]}" -H 'Expect:' -T "$SV_ROOT/body.bin" \
	"http://$SV_LAN_IP/put") || true
[ "$got" = "$BODY_SHA" ] || sv_fail "HTTP proxy PUT: the LAN server hashed '$got'"
n=$(grep -c -E '"(POST /post|POST /chunked|PUT /put) HTTP/1.1" 200' "$LAN/httpd.log") || true
[ "$n" -eq 3 ] || sv_fail "the LAN server logged $n of the 3 requests with bodies"
# https:// through CONNECT; curl verifies the LAN server's certificate end to end
fetch "HTTP proxy, CONNECT to https://" "https://$SV_LAN_NAME/big.bin" "$SV_BIG_SHA256" \
	"${HC[@]}" --cacert "$LAN/tls.crt"
code=$(SV_CURL_TIMEOUT=30 sv_curl "${HC[@]}" -o /dev/null -w '%{http_code}' "http://nosuch.invalid/") || true
[ "$code" = 502 ] || sv_fail "HTTP proxy: an unknown name answered $code, expected 502"
sv_log "HTTP proxy: GET, POST (Content-Length, chunked) and PUT of 3 MB, https CONNECT (verified), 502 ok"

# --- DNS through SOCKS5 UDP ASSOCIATE, and through -L udp -----------------------------------
cat >"$SV_ROOT/dns.py" <<'PY'
"""dns.py socks HOST:PORT SERVER PORT NAME | dns.py udp HOST:PORT NAME
Asks for NAME's A record, directly or through a SOCKS5 UDP association, retrying lost
datagrams; prints the addresses (and, through SOCKS, the answer's source)."""
import os, socket, struct, sys, time

def query(name):
    qid = os.urandom(2)
    q = qid + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return qid, q + b"\x00\x00\x01\x00\x01"

def skip_name(d, i):
    while True:
        n = d[i]
        if n >= 0xC0:
            return i + 2
        if n == 0:
            return i + 1
        i += 1 + n

def answers(qid, d):
    if d[:2] != qid or not d[2] & 0x80:
        return None
    qd, an = struct.unpack(">HH", d[4:8])
    i = 12
    for _ in range(qd):
        i = skip_name(d, i) + 4
    out = []
    for _ in range(an):
        i = skip_name(d, i)
        typ, _cls, _ttl, rdlen = struct.unpack(">HHIH", d[i:i + 10])
        i += 10
        if typ == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(d[i:i + 4]))
        i += rdlen
    return out

def exchange(u, dest, wrap, unwrap, name):
    for _ in range(6):
        qid, q = query(name)
        u.sendto(wrap(q), dest)
        deadline = time.time() + 2
        while time.time() < deadline:
            u.settimeout(max(0.05, deadline - time.time()))
            try:
                d, _ = u.recvfrom(4096)
            except (socket.timeout, ConnectionRefusedError):
                break
            src, d = unwrap(d)
            a = answers(qid, d)
            if a is not None:
                return src, a
    sys.exit("no DNS answer for %s" % name)

def recv_exact(t, n):
    b = b""
    while len(b) < n:
        c = t.recv(n - len(b))
        if not c:
            sys.exit("SOCKS5 control connection closed")
        b += c
    return b

def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)

if sys.argv[1] == "udp":
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src, a = exchange(u, hostport(sys.argv[2]), lambda q: q, lambda d: (None, d), sys.argv[3])
    print(" ".join(a))
    sys.exit(0)
server, sport, name = sys.argv[3], int(sys.argv[4]), sys.argv[5]
t = socket.create_connection(hostport(sys.argv[2]), timeout=10)
t.sendall(b"\x05\x01\x00")
if recv_exact(t, 2) != b"\x05\x00":
    sys.exit("SOCKS5 method selection failed")
t.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
rep = recv_exact(t, 10)
if rep[1] != 0 or rep[3] != 1:
    sys.exit("UDP ASSOCIATE refused: reply 0x%02x" % rep[1])
relay = (socket.inet_ntoa(rep[4:8]), struct.unpack(">H", rep[8:10])[0])
hdr = b"\x00\x00\x00\x01" + socket.inet_aton(server) + struct.pack(">H", sport)

def unwrap(d):
    if len(d) < 10 or d[:4] != b"\x00\x00\x00\x01":
        sys.exit("bad SOCKS5 UDP header %r" % d[:10])
    return "%s:%d" % (socket.inet_ntoa(d[4:8]), struct.unpack(">H", d[8:10])[0]), d[10:]

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
src, a = exchange(u, relay, lambda q: hdr + q, unwrap, name)
print("%s from %s" % (" ".join(a), src))
t.close()
PY
got=$(ip netns exec "$SV_NS_CLI" timeout 30 "$SV_PY" "$SV_ROOT/dns.py" socks "$SV_SOCKS" \
	"$SV_LAN_IP" 53 "$SV_LAN_NAME" 2>&1) || sv_fail "DNS through UDP ASSOCIATE: $got"
[ "$got" = "$SV_LAN_IP from $SV_LAN_IP:53" ] || sv_fail "DNS through UDP ASSOCIATE answered '$got'"
got=$(ip netns exec "$SV_NS_CLI" timeout 30 "$SV_PY" "$SV_ROOT/dns.py" udp "127.0.0.1:$LU" \
	"$SV_LAN_NAME" 2>&1) || sv_fail "DNS through -L udp: $got"
[ "$got" = "$SV_LAN_IP" ] || sv_fail "DNS through -L udp answered '$got'"
sv_log "DNS: $SV_LAN_NAME answered through UDP ASSOCIATE and through -L udp"

# --- -L TCP -------------------------------------------------------------------------------
fetch "-L TCP" "http://127.0.0.1:$LT/big.bin" "$SV_BIG_SHA256"
sv_log "-L TCP: 8 MiB through 127.0.0.1:$LT, sha256 ok"

# --- -R: the LAN reaches the client namespace's server through the tunnel address ---------
grep -q "peers on the hub's side connect to $MAIN_IP:$RP" "$MAIN_LOG" ||
	sv_fail "-R: the address for peers on the hub's side was not logged"
got=$(ip netns exec "$SV_NS_LAN" curl -sS --max-time 30 "http://$MAIN_IP:$RP/r.bin" |
	sha256sum | cut -d' ' -f1) || true
[ "$got" = "$R_SHA" ] || sv_fail "-R: the LAN did not get r.bin through $MAIN_IP:$RP ($got)"
sv_log "-R: the LAN fetched 1 MiB from the client side through $MAIN_IP:$RP"

# --- SOCKS5 BIND: the LAN connects to the announced address --------------------------------
head -c 200000 /dev/urandom >"$SV_ROOT/bind-a.bin"
head -c 300000 /dev/urandom >"$SV_ROOT/bind-b.bin"
cat >"$SV_ROOT/bind.py" <<'PY'
"""bind.py SOCKS LAN_NS PYTHON A B: BIND, then the LAN namespace connects to the first
reply's address, sends A; we answer B and close; the LAN side must read exactly B."""
import socket, struct, subprocess, sys

LANSIDE = r'''
import socket, sys
a, b = open(sys.argv[3], "rb").read(), open(sys.argv[4], "rb").read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(a)
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
sys.exit(0 if got == b else "LAN side: %d bytes back, not B" % len(got))
'''

def recv_exact(t, n):
    b = b""
    while len(b) < n:
        c = t.recv(n - len(b))
        if not c:
            sys.exit("BIND: connection closed (%d of %d bytes)" % (len(b), n))
        b += c
    return b

def reply(t):
    h = recv_exact(t, 4)
    if h[0] != 5 or h[3] != 1:
        sys.exit("BIND: reply %r" % h)
    a = recv_exact(t, 6)
    return h[1], socket.inet_ntoa(a[:4]), struct.unpack(">H", a[4:])[0]

socks, lan_ns, py, a_path, b_path = sys.argv[1:6]
h, p = socks.rsplit(":", 1)
a, b = open(a_path, "rb").read(), open(b_path, "rb").read()
t = socket.create_connection((h, int(p)), timeout=20)
t.sendall(b"\x05\x01\x00")
if recv_exact(t, 2) != b"\x05\x00":
    sys.exit("BIND: method selection failed")
t.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")
rep, ip, port = reply(t)
if rep != 0 or port == 0:
    sys.exit("BIND: first reply 0x%02x %s:%d" % (rep, ip, port))
lan = subprocess.Popen(["ip", "netns", "exec", lan_ns, py, "-c", LANSIDE, ip, str(port),
                        a_path, b_path])
rep, pip, pport = reply(t)
if rep != 0:
    sys.exit("BIND: second reply 0x%02x" % rep)
if recv_exact(t, len(a)) != a:
    sys.exit("BIND: the LAN's bytes arrived corrupted")
t.sendall(b)
t.close()
rc = lan.wait(30)
if rc != 0:
    sys.exit("BIND: the LAN side failed (%s)" % rc)
print("%s:%d peer %s:%d" % (ip, port, pip, pport))
PY
got=$(ip netns exec "$SV_NS_CLI" timeout 60 "$SV_PY" "$SV_ROOT/bind.py" "$SV_SOCKS" "$SV_NS_LAN" \
	"$SV_PY" "$SV_ROOT/bind-a.bin" "$SV_ROOT/bind-b.bin" 2>&1) || {
	sv_proxy_check_alive
	sv_fail "$got"
}
case $got in
"$MAIN_IP:"[0-9]*" peer $SV_LAN_IP:"[0-9]*) ;;
*) sv_fail "BIND: announced/peer addresses '$got', expected $MAIN_IP:PORT and peer $SV_LAN_IP" ;;
esac
sv_log "BIND: $got; 200 kB in, 300 kB out, intact"

# --- ssh through --stdio (its own session: --no-attach), as the unprivileged user -----------
head -c 1048576 /dev/urandom >"$SV_ROOT/ssh-in.bin"
SSH_SHA=$(sha256sum <"$SV_ROOT/ssh-in.bin" | cut -d' ' -f1)
PC="$SV_PROXY_BIN --no-config --server $SV_SRV_IP:$SV_SRV_PORT --hub $SV_HUB --user $SV_USER --pin $SV_PIN --no-attach --stdio %h:%p"
SV_PROXY_ENV=("SEVPN_PASSWORD=$SV_PASS")
t0=$SECONDS
mark=$(loglines)
sv_cli_user timeout 90 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
	-o UserKnownHostsFile="$H/known_hosts" -o GlobalKnownHostsFile=/dev/null \
	-o IdentitiesOnly=yes -i "$H/id_ed25519" -o ProxyCommand="$PC" -o ConnectTimeout=60 \
	"root@$SV_LAN_NAME" whatever <"$SV_ROOT/ssh-in.bin" >"$SV_ROOT/ssh.out" \
	2>"$SV_ROOT/proxy-stdio.log" && rc=0 || rc=$?
SV_PROXY_ENV=()
[ "$rc" -eq 0 ] || sv_fail "ssh through --stdio exited with status $rc"
[ "$(sed -n 1p "$SV_ROOT/ssh.out")" = "$MARKER" ] || sv_fail "ssh: no marker from the LAN host"
[ "$(sed -n 2p "$SV_ROOT/ssh.out")" = "$SSH_SHA  -" ] || sv_fail "ssh: 1 MiB of stdin did not arrive intact"
STDIO_IP=$(sed -n 's/^ready.* ip=\([0-9.]*\)\/.*/\1/p' "$SV_ROOT/proxy-stdio.log" | head -n1)
[ -n "$STDIO_IP" ] || sv_fail "the --stdio instance printed no ready line"
grep -q "Accepted publickey for root from $STDIO_IP " "$LAN/sshd.log" ||
	sv_fail "sshd did not log the login from the --stdio instance's lease $STDIO_IP"
released "the --stdio instance" "$STDIO_IP" "$mark"
sv_log "ssh via ProxyCommand --stdio (lease $STDIO_IP, $((SECONDS - t0)) s): marker and sha256 of 1 MiB ok"

# --- ssh through --stdio attached to the main instance (no login, no lease of its own) ----
PC="$SV_PROXY_BIN --no-config --server $SV_SRV_IP:$SV_SRV_PORT --hub $SV_HUB --user $SV_USER -v --control-path $MUX --stdio %h:%p"
sv_cli_user timeout 90 ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
	-o UserKnownHostsFile="$H/known_hosts" -o GlobalKnownHostsFile=/dev/null \
	-o IdentitiesOnly=yes -i "$H/id_ed25519" -o ProxyCommand="$PC" -o ConnectTimeout=60 \
	"root@$SV_LAN_NAME" whatever <"$SV_ROOT/ssh-in.bin" >"$SV_ROOT/ssh2.out" \
	2>"$SV_ROOT/proxy-attach.log" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || sv_fail "ssh through an attached --stdio exited with status $rc"
[ "$(sed -n 2p "$SV_ROOT/ssh2.out")" = "$SSH_SHA  -" ] ||
	sv_fail "ssh (attached): 1 MiB of stdin did not arrive intact"
grep -q "attached to the instance" "$SV_ROOT/proxy-attach.log" ||
	sv_fail "the second --stdio did not attach to the running instance"
grep -q "^ready " "$SV_ROOT/proxy-attach.log" && sv_fail "the attached --stdio logged in itself"
grep -q "Accepted publickey for root from $MAIN_IP " "$LAN/sshd.log" ||
	sv_fail "sshd did not log the attached login from the main instance's lease $MAIN_IP"
sv_log "ssh via an attached --stdio: through the main instance ($MAIN_IP), no login of its own"

# --- credentials: a second instance with --proxy-user --------------------------------------
PUSER=fe-user
PW="pw $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
PW_URL=${PW// /%20}
AUTH_SOCKS=127.0.0.1:1081
AUTH_HTTP=127.0.0.1:8081
SV_PROXY_ENV=("SEVPN_PROXY_PASSWORD=$PW")
SV_PROXY_TAG=proxy-auth SV_SOCKS=$AUTH_SOCKS sv_proxy_start --http "$AUTH_HTTP" --proxy-user "$PUSER"
SV_PROXY_ENV=()
SMALL=http://$SV_LAN_NAME/small.txt
SMALL_SHA=$(sha256sum <"$WWW/small.txt" | cut -d' ' -f1)
# refused CURL-ARGS...: the fetch must fail.
refused() {
	if SV_CURL_TIMEOUT=20 sv_curl -o /dev/null "$@" 2>/dev/null; then
		sv_fail "credentials: curl $* succeeded, expected a refusal"
	fi
}
fetch "SOCKS5 with credentials" "$SMALL" "$SMALL_SHA" --proxy "socks5h://$PUSER:$PW_URL@$AUTH_SOCKS"
refused --proxy "socks5h://$PUSER:wrong@$AUTH_SOCKS" "$SMALL"
grep -q "wrong proxy user name or password" "$SV_PROXY_LOG" || sv_fail "no log line for the wrong SOCKS5 password"
refused --socks5-hostname "$AUTH_SOCKS" "$SMALL"
refused --socks4a "$AUTH_SOCKS" "$SMALL"
fetch "HTTP with credentials" "$SMALL" "$SMALL_SHA" --proxy "http://$AUTH_HTTP" --proxy-user "$PUSER:$PW"
fetch "CONNECT with credentials" "https://$SV_LAN_NAME/small.txt" "$SMALL_SHA" --proxy "http://$AUTH_HTTP" \
	--proxy-user "$PUSER:$PW" --cacert "$LAN/tls.crt"
for cred in "" "$PUSER:nope"; do
	code=$(SV_CURL_TIMEOUT=20 sv_curl -o /dev/null -w '%{http_code}' --proxy "http://$AUTH_HTTP" \
		${cred:+--proxy-user "$cred"} "$SMALL") || true
	[ "$code" = 407 ] || sv_fail "HTTP proxy with credentials '${cred:-none}' answered $code, expected 407"
done
if grep -qF "$PW" "$SV_PROXY_LOG" "$MAIN_LOG"; then sv_fail "the proxy password appears in a log"; fi
sv_check_no_caps "$SV_PROXY_PID" 2>/dev/null
sv_log "credentials: SOCKS5, HTTP and CONNECT accepted; wrong or none refused (SOCKS5 failure, 407); SOCKS4 refused"

# --- stops: each exits 0 on SIGTERM and gives its lease back; one more instance stopped
# right after its ready line, before it knows the DHCP server's MAC address ------------------
# stop PID IP WHAT
stop() {
	local rc mark
	sv_alive "$1" || sv_fail "$3 (pid $1) died during the test"
	mark=$(loglines)
	kill -TERM "$1"
	sv_wait_gone "$1" 5 || sv_fail "$3 did not exit within 5 s of SIGTERM"
	wait "$1" && rc=0 || rc=$?
	[ "$rc" -eq 0 ] || sv_fail "$3 exited with status $rc after SIGTERM"
	released "$3" "$2" "$mark"
}
stop "$SV_PROXY_PID" "${SV_READY_IP%/*}" "the instance with credentials"
SV_PROXY_TAG=proxy-quick SV_SOCKS=127.0.0.1:1082 sv_proxy_start
stop "$SV_PROXY_PID" "${SV_READY_IP%/*}" "an instance stopped as soon as it was ready"
stop "$MAIN_PID" "$MAIN_IP" "the main instance"
sv_log "every instance released its lease on exit (SIGTERM, end of --stdio)"
sv_log "PASS"
