#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Issue 5's proof on the test hub: a 256 MiB download through SOCKS5 while the hub cuts
# the tunnel's TCP connection several times must arrive with the right SHA-256, and the
# client's log must show each loss and an immediate re-attach (additional_connect with
# the session key) or new login (at most the first 1 s backoff step after a refused
# re-attach).
#   run 1  --fault-drop-after-bytes 48000000 --fault-drop-alternate: FIN (no
#          close_notify), RST, FIN, ... every 48 MB; the hub keeps each dead session for
#          its timeout (a real server that survives drops)
#   run 2  --fault-kill-session --fault-drop-after-bytes 64000000 --fault-drop-alternate:
#          each connection is cut after 64 MB and its session destroyed at once, as 5.01
#          does, so the client's re-attach is refused (13) and it must log in again
# Both runs use one client process each; the client keeps its MAC and so its lease, and
# lwIP's TCP connection to the web server survives every new session.
# usage: hub_drop_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hublib.sh
. "$HERE/hublib.sh"
hl_init hub_drop "${1:?usage: hub_drop_test.sh SEVPN_TESTHUB SEVPN_PROXY}" \
	"${2:?usage: hub_drop_test.sh SEVPN_TESTHUB SEVPN_PROXY}"
hl_http_start
hl_file big.bin 256
BIG_SHA=$HL_SHA256

# run NAME MIN_DROPS HUB_ARGS...: one 256 MiB download across the hub's drops.
run() {
	local name=$1 min=$2 t0 got el drops lost fin rst ip0 n waits
	shift 2
	hl_hub_start "hub-$name" "$@"
	hl_proxy_start "proxy-$name"
	ip0=$(printf '%s\n' "$HL_READY_LINE" | tr ' ' '\n' | sed -n 's/^ip=//p')
	t0=$(hl_now)
	HL_CURL_TIMEOUT=120
	got=$(hl_fetch "$HL_URL/big.bin") || hl_fail "$name: the download failed across the drops"
	el=$(hl_elapsed "$t0")
	[ "$got" = "$BIG_SHA" ] || hl_fail "$name: sha256 $got, expected $BIG_SHA"
	got=$(hl_fetch "$HL_URL/small.txt") || hl_fail "$name: a new connection after the drops failed"
	drops=$(grep -c 'fault: drop after' "$HL_HUB_LOG" || true)
	fin=$(grep -c 'fault: drop after .*closing (FIN)' "$HL_HUB_LOG" || true)
	rst=$(grep -c 'fault: drop after .*closing (RST)' "$HL_HUB_LOG" || true)
	[ "$drops" -ge "$min" ] || hl_fail "$name: $drops drops, expected at least $min"
	if [ "$fin" -lt 1 ] || [ "$rst" -lt 1 ]; then
		hl_fail "$name: FIN $fin, RST $rst: expected both"
	fi
	# a drop may have come just now (time-based drops go on): give the client 5 s to
	# notice each one and come back by a new session (login) or the old one (re-attach)
	for _ in $(seq 50); do
		lost=$(grep -c 'the VPN session with .* was lost' "$HL_PROXY_LOG" || true)
		n=$(grep -cE 'established on hub|re-attached \(' "$HL_PROXY_LOG" || true)
		[ "$lost" -ge "$drops" ] && [ "$n" -gt "$drops" ] && break
		sleep 0.1
	done
	logins=$(grep -c 'established on hub' "$HL_PROXY_LOG" || true)
	[ "$lost" -ge "$drops" ] || hl_fail "$name: the client logged $lost losses for $drops drops"
	[ "$n" -gt "$drops" ] || hl_fail "$name: $n sessions and re-attaches for $drops drops"
	# the first attempt after a loss is immediate; a refused re-attach (13) may cost the
	# first backoff step (1 s +-25 %), never more
	waits=$(grep -c 'reconnecting in' "$HL_PROXY_LOG" || true)
	if grep -o 'reconnecting in [0-9.]* s' "$HL_PROXY_LOG" | awk '$3 > 1.3 { bad = 1 } END { exit !bad }'; then
		hl_fail "$name: a reconnect waited too long: $(grep 'reconnecting in' "$HL_PROXY_LOG" | sort -t' ' -k6 | tail -n1)"
	fi
	if grep 'address: ip=' "$HL_PROXY_LOG" | grep -v "address: ip=$ip0 " | grep -q .; then
		hl_fail "$name: the address changed from $ip0"
	fi
	grep -E 'was lost|reconnecting|re-attach|logging in again|established on hub' "$HL_PROXY_LOG" |
		sed 's/^/    /' >&2
	hl_proxy_stop
	hl_hub_stop
	hl_log "$name: 256 MiB intact in ${el}s across $drops drops (FIN $fin, RST $rst): $logins logins, $((n - logins)) re-attaches, $waits backoff waits; address $ip0 kept"
}

run drops 4 --fault-drop-after-bytes 48000000 --fault-drop-alternate
grep -q 'no connection left, kept for' "$HL_HUB_LOG" || hl_fail "drops: sessions were not kept after a drop"
run kill 3 --fault-kill-session --fault-drop-after-bytes 64000000 --fault-drop-alternate
k=$(grep -c 'ended: a connection ended without close_notify (fault: kill session)' "$HL_HUB_LOG" || true)
[ "$k" -ge 2 ] || hl_fail "kill: the hub killed $k sessions, expected one per drop"
# every drop killed its session: what came back must be a new login each time
[ "$logins" -ge "$k" ] || hl_fail "kill: $logins logins for $k killed sessions"
hl_log "kill: the hub destroyed $k sessions on their abrupt drops (5.01 behaviour); $(grep -c 'login refused with error 13' "$HL_HUB_LOG" || true) re-attaches refused with 13"
hl_log "PASS"
