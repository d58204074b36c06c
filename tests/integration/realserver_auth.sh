#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Every SoftEther auth type against the real server, with one server for all cases:
#   password  (authtype 1) alice
#   plain     (authtype 2) alice: the server also accepts a plain password for a local
#             password user
#   anonymous (authtype 0) guest, made anonymous with UserAnonymousSet
#   cert      (authtype 3) carol, whose certificate the hub holds (UserCertSet); the
#             client's files are PEM (certificate) and PKCS#1 PEM (RSA-2048 key), and a
#             second login uses DER and PKCS#8 DER
# Each must print its ready line, log in as the right user (the session name carries it)
# and fetch small.txt through SOCKS5. And the refusals, each exit status 2 within 5 s and
# no ready line: anonymous as alice, a wrong plain password, a certificate with the
# subject "carol" that the hub does not hold (refused by the server, error 9), and
# carol's certificate with another key (refused by the client before it connects).
# Usage: realserver_auth.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init auth
sv_net_up
sv_lan_up 0
sv_server_up
sv_proxy_prepare "$1"

# --- credentials ---------------------------------------------------------------------------
# The client's copies live in creds/ (readable by the unprivileged client, keys 0600 and
# owned by it); the hub loads carol's certificate from its own lib dir, which vpncmd sees
# as /var/lib/softether (its /tmp is a private tmpfs, so no other absolute path works).
creds=$SV_ROOT/creds
mkdir -p "$creds"
mk_cert() { # NAME CN: RSA-2048 key (PKCS#1 PEM) and a self-signed certificate (PEM)
	openssl genrsa -traditional -out "$creds/$1.key" 2048 >/dev/null 2>&1 ||
		openssl genrsa -out "$creds/$1.key" 2048 >/dev/null 2>&1 ||
		sv_fail "openssl could not make a key"
	openssl req -x509 -new -key "$creds/$1.key" -subj "/CN=$2" -days 7 \
		-out "$creds/$1.pem" >/dev/null 2>&1 || sv_fail "openssl could not make a certificate"
}
mk_cert carol carol
mk_cert mallory carol # same subject, not the certificate the hub holds
openssl x509 -in "$creds/carol.pem" -outform DER -out "$creds/carol.der"
openssl pkcs8 -topk8 -nocrypt -in "$creds/carol.key" -outform DER -out "$creds/carol.p8.der"
grep -q 'BEGIN RSA PRIVATE KEY' "$creds/carol.key" || sv_log "note: openssl wrote a PKCS#8 key"
chown "$SV_RUN_UID:$SV_RUN_GID" "$creds"/*
chmod 600 "$creds"/*.key "$creds"/*.p8.der
chmod 644 "$creds"/*.pem "$creds/carol.der"
chmod 755 "$creds"
cp "$creds/carol.pem" "$SV_ROOT/srv/lib/carol.pem"

sv_hubcmd UserCreate guest /GROUP:none /REALNAME:none /NOTE:none
sv_hubcmd UserAnonymousSet guest
sv_hubcmd UserCreate carol /GROUP:none /REALNAME:none /NOTE:none
sv_hubcmd UserCertSet carol /LOADCERT:/var/lib/softether/carol.pem
sv_log "hub users: alice (password), guest (anonymous), carol (certificate)"

# --- logins that must work -----------------------------------------------------------------
# login_ok NAME USER ARGS...: ready, session of USER, small.txt through SOCKS5, clean stop.
login_ok() {
	local name=$1 user=$2 body rc
	shift 2
	sv_log "$name: $*"
	sv_proxy_start "$@"
	grep -q "established SID-${user^^}-" "$SV_PROXY_LOG" ||
		sv_fail "$name: no session of user $user in the log"
	body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5-hostname "$SV_SOCKS" \
		"http://$SV_LAN_NAME/small.txt") || {
		sv_proxy_check_alive
		sv_fail "$name: fetching small.txt through SOCKS5 failed"
	}
	[ "$body" = "hello over IPv6" ] || sv_fail "$name: small.txt returned '$body'"
	grep -qF "$SV_PASS" "$SV_PROXY_LOG" && sv_fail "$name: the password appears in the log"
	kill -TERM "$SV_PROXY_PID"
	sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "$name: no exit within 5 s of SIGTERM"
	wait "$SV_PROXY_PID" && rc=0 || rc=$?
	[ "$rc" -eq 0 ] || sv_fail "$name: exit status $rc after SIGTERM"
	mv "$SV_PROXY_LOG" "$SV_ROOT/proxy-$name.log"
	sv_log "$name: ok"
}

login_ok password alice
login_ok plain alice --auth plain
login_ok anonymous guest --auth anonymous --user guest
login_ok cert carol --auth cert --user carol --cert "$creds/carol.pem" --key "$creds/carol.key"
login_ok cert-der carol --auth cert --user carol --cert "$creds/carol.der" \
	--key "$creds/carol.p8.der"

# --- logins that must be refused -----------------------------------------------------------
# login_refused NAME PASSWORD MESSAGE ARGS...: exit 2 within 5 s, no ready line, and a
# line matching MESSAGE (extended regular expression) on stderr.
login_refused() {
	local name=$1 pass=$2 msg=$3 log pid rc t0 t1 elapsed
	shift 3
	sv_proxy_args
	log=$SV_ROOT/proxy-$name.log
	t0=$(sv_now)
	(sv_proxy_exec "$pass" "${SV_PROXY_ARGS[@]}" "$@") 2>"$log" >/dev/null &
	pid=$!
	SV_PIDS+=("$pid")
	sv_wait_gone "$pid" 10 || sv_fail "$name: still running after 10 s"
	wait "$pid" && rc=0 || rc=$?
	t1=$(sv_now)
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	sv_log "$name: exit status $rc after ${elapsed}s; stderr:"
	sed 's/^/    /' "$log" >&2
	awk -v e="$elapsed" 'BEGIN { exit !(e <= 5.0) }' || sv_fail "$name: took ${elapsed}s (> 5 s)"
	[ "$rc" -eq 2 ] || sv_fail "$name: exit status $rc, expected 2 (refused)"
	grep -q '^ready ' "$log" && sv_fail "$name: printed a ready line"
	grep -qE "$msg" "$log" || sv_fail "$name: no message matching '$msg'"
	grep -qF "$SV_PASS" "$log" && sv_fail "$name: the password appears in its output"
	return 0
}

login_refused anonymous-as-alice "" 'server refused.*error 9' --auth anonymous
login_refused plain-wrong "wrong-$SV_PASS" 'server refused.*error 9' --auth plain
login_refused cert-unknown "" 'server refused.*error 9' --auth cert --user carol \
	--cert "$creds/mallory.pem" --key "$creds/mallory.key"
login_refused cert-other-key "" 'does not belong to the certificate' --auth cert \
	--user carol --cert "$creds/carol.pem" --key "$creds/mallory.key"
# The last one never reached the server: the client refused its own files.
grep -q 'server refused' "$SV_ROOT/proxy-cert-other-key.log" &&
	sv_fail "cert-other-key: the mismatched key was sent to the server"
sv_log "PASS"
