#!/bin/bash
# --max-tcp 3 on the real server: the login asks for 3 connections, two more join the
# session with its key (spec 12), frames are spread over them, a 64 MiB download through
# SOCKS5 arrives intact; then one of the connections is destroyed mid-download (a 5.01
# server then drops the whole session, spec 13.3): the client logs in again, the extra
# connections join again and the download still completes. Also --compress and
# --half-duplex: the server grants them and data is intact.
# Usage: realserver_maxtcp.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init maxtcp
sv_net_up
sv_lan_up 64
sv_server_up
sv_proxy_prepare "$1"
sv_proxy_start --max-tcp 3
sv_wait_until 10 "two more connections to join" \
	sh -c "[ \$(grep -c 'of 3 joined' '$SV_PROXY_LOG') -ge 2 ]"
n=$(ip netns exec "$SV_NS_CLI" ss -Htn state established dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" | wc -l)
[ "$n" -eq 3 ] || sv_fail "$n TCP connections to the server, expected 3"
sv_log "3 TCP connections carry the session"

(sv_curl --limit-rate 16M --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" |
	sha256sum | cut -d' ' -f1 >"$SV_ROOT/got") &
curl_pid=$!
SV_PIDS+=("$curl_pid")
sleep 2
port=$(ip netns exec "$SV_NS_CLI" ss -Htn state established dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" |
	awk 'NR == 2 { split($3, a, ":"); print a[2] }')
ip netns exec "$SV_NS_CLI" ss -K dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" sport = "$port" >/dev/null
sv_log "destroyed the connection from port $port"
wait "$curl_pid" || sv_fail "the download failed after losing a connection"
[ "$(cat "$SV_ROOT/got")" = "$SV_BIG_SHA256" ] || sv_fail "sha256 mismatch after losing a connection"
sv_proxy_check_alive
sv_wait_until 15 "three connections again" sh -c "[ \$(ip netns exec '$SV_NS_CLI' ss -Htn state established \
	dst '$SV_SRV_IP' dport = '$SV_SRV_PORT' | wc -l) -eq 3 ]"
sv_log "64 MiB intact across the loss of one of 3 connections; 3 connections again"
kill -TERM "$SV_PROXY_PID"
sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "no exit within 5 s of SIGTERM"

# --compress: granted by the server, data intact
SV_PROXY_LOG_OLD=$SV_PROXY_LOG
sv_proxy_start --compress
body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/small.txt") ||
	sv_fail "fetch with --compress failed"
[ "$body" = "hello over IPv6" ] || sv_fail "with --compress: '$body'"
grep -q "Use of compression: Yes" "$SV_ROOT"/srv/log/server_log/*.log ||
	sv_fail "the server log does not show compression in use"
: "$SV_PROXY_LOG_OLD"
sv_log "--compress: granted by the server, data intact"
kill -TERM "$SV_PROXY_PID"
sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "no exit within 5 s of SIGTERM"

# --half-duplex: one-way connections (spec 11.5), data intact both ways
sv_proxy_start --max-tcp 2 --half-duplex
body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/small.txt") ||
	sv_fail "fetch with --half-duplex failed"
[ "$body" = "hello over IPv6" ] || sv_fail "with --half-duplex: '$body'"
got=$(sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" | sha256sum | cut -d' ' -f1)
[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "64 MiB with --half-duplex: sha256 mismatch"
grep -q "Use of Half duplex communication: Yes" "$SV_ROOT"/srv/log/server_log/*.log ||
	sv_fail "the server log does not show half-duplex in use"
sv_log "--half-duplex: granted, 64 MiB intact"
sv_log "PASS"
