#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Client conformance cases, the same for every server backend (issue 3: "the hub passes
# the same client conformance tests as the real server"). Each case drives sevpn-proxy
# only through the backend interface (backend_hub.sh documents it), so the checks below
# are byte for byte the same against sevpn-testhub and against Debian's vpnserver.
#
#   login_ok        ready line with a lease from the hub's LAN (10.77.0.100+), a 64 MiB
#                   file through SOCKS5 with the right SHA-256, exit 0 on SIGTERM
#   wrong_password  exit 2 within 5 s, a message about the password, no ready line, the
#                   password never printed
#   unknown_hub     exit 2 within 5 s, a message saying the hub does not exist
#   anonymous       anonymous login as an anonymous user: ready, session of that user,
#                   a small file through SOCKS5
#   reconnect       the tunnel's TCP connection is destroyed twice mid-download (real
#                   server: ss -K; hub: its drop fault): the client re-attaches or logs
#                   in again by itself, keeps its address, the 64 MiB arrive intact
#
# usage: cases.sh BACKEND SEVPN_PROXY [BACKEND ARGS...]   (0 pass, 1 fail, 77 skip)
#   BACKEND is backend_hub.sh (then also SEVPN_TESTHUB) or backend_real.sh.
#   CONFORMANCE_CASES="login_ok reconnect" runs a subset.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BACKEND=${1:?usage: cases.sh backend_hub.sh|backend_real.sh SEVPN_PROXY [SEVPN_TESTHUB]}
shift
# shellcheck source=backend_hub.sh
. "$HERE/$BACKEND"

lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
field() { printf '%s\n' "$BE_READY_LINE" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }

# A login the server refuses: exit 2 within 5 s, no ready line, no password in the output,
# and a line matching the extended regular expression $2.
expect_refused() {
	local name=$1 msg=$2
	be_log "$name: exit status $BE_RC after ${BE_ELAPSED}s: $(grep -E 'error' "$BE_LOG" | tail -n1)"
	[ "$BE_RC" -eq 2 ] || be_fail "$name: exit status $BE_RC, expected 2 (refused)"
	lt "$BE_ELAPSED" 5.0 || be_fail "$name: took ${BE_ELAPSED}s (> 5 s)"
	grep -q '^ready ' "$BE_LOG" && be_fail "$name: printed a ready line"
	grep -qiE "$msg" "$BE_LOG" || be_fail "$name: no message matching '$msg'"
	grep -qF "$BE_PASS" "$BE_LOG" && be_fail "$name: the password appears in its output"
	return 0
}

case_login_ok() {
	local got ip
	be_proxy_start
	ip=$(field ip)
	case $ip in
	10.77.0.1[0-9][0-9]/24) ;;
	*) be_fail "login_ok: ready line address '$ip' is not a lease from the hub's LAN" ;;
	esac
	[ "$(field gw)" = 10.77.0.1 ] || be_fail "login_ok: gateway $(field gw)"
	got=$(be_curl "$BE_URL/$BE_BIG" | sha256sum | cut -d' ' -f1) || be_fail "login_ok: download failed"
	[ "$got" = "$BE_BIG_SHA" ] || be_fail "login_ok: sha256 $got, expected $BE_BIG_SHA"
	grep -q 'established SID-ALICE-' "$BE_PROXY_LOG" || be_fail "login_ok: no session of alice"
	grep -qF "$BE_PASS" "$BE_PROXY_LOG" && be_fail "login_ok: the password appears in the log"
	be_proxy_stop login_ok
	be_log "login_ok: $ip, 64 MiB through SOCKS5: sha256 ok"
}

case_wrong_password() {
	be_proxy_run wrong_password "wrong-$BE_PASS"
	expect_refused wrong_password 'password'
}

case_unknown_hub() {
	BE_HUB=NOSUCHHUB be_proxy_run unknown_hub "$BE_PASS"
	expect_refused unknown_hub 'hub does not exist|hub not found'
}

case_anonymous() {
	local body
	BE_USER=guest be_proxy_start --auth anonymous
	grep -q 'established SID-GUEST-' "$BE_PROXY_LOG" || be_fail "anonymous: no session of guest"
	body=$(be_curl "$BE_URL/small.txt" | head -c 100) || be_fail "anonymous: fetch failed"
	[ -n "$body" ] || be_fail "anonymous: small.txt was empty"
	be_proxy_stop anonymous
	be_log "anonymous: logged in as guest, small.txt through SOCKS5"
}

case_reconnect() {
	local dl n ip0 got
	be_drops_arm
	be_proxy_start
	ip0=$(field ip)
	be_download_args
	(be_curl ${BE_DL_ARGS[@]+"${BE_DL_ARGS[@]}"} "$BE_URL/$BE_BIG" | sha256sum | cut -d' ' -f1 >"$BE_GOT") &
	dl=$!
	be_drops_run
	wait "$dl" || be_fail "reconnect: the download failed across the drops"
	got=$(cat "$BE_GOT")
	[ "$got" = "$BE_BIG_SHA" ] || be_fail "reconnect: sha256 $got, expected $BE_BIG_SHA"
	# back by a new login, or by re-attaching to the session (additional_connect)
	n=$(grep -cE 'established on hub|re-attached \(' "$BE_PROXY_LOG" || true)
	[ "$n" -ge 3 ] || be_fail "reconnect: $n sessions and re-attaches in the log, expected 1 + 2"
	grep -qE 'reconnecting now|re-attaching to' "$BE_PROXY_LOG" ||
		be_fail "reconnect: no immediate reconnect logged"
	if grep 'address: ip=' "$BE_PROXY_LOG" | grep -v "address: ip=$ip0 " | grep -q .; then
		be_fail "reconnect: the address changed from $ip0"
	fi
	grep -E 'was lost|reconnecting|re-attach|logging in again|established on hub' "$BE_PROXY_LOG" |
		sed 's/^/    /' >&2
	be_proxy_stop reconnect
	be_log "reconnect: 64 MiB intact across 2 tunnel losses, $n sessions/re-attaches, address $ip0 kept"
}

be_setup "$@"
BE_GOT=$(mktemp "${TMPDIR:-/tmp}/sevpn-conf-got.XXXXXX")
for c in ${CONFORMANCE_CASES:-login_ok wrong_password unknown_hub anonymous reconnect}; do
	t0=$SECONDS
	"case_$c"
	be_log "case $c passed ($((SECONDS - t0)) s) against the $BE_NAME backend"
done
rm -f "$BE_GOT"
be_log "PASS"
