#!/bin/bash
# The tunnel's TCP connection dies twice in the middle of a download (the socket is
# destroyed in the client namespace, so the server sees an abrupt loss, which makes a 5.01
# server drop the whole session): sevpn-proxy must log in again by itself, keep the same
# address (same MAC, same lease) and the proxied download must complete intact.
# Usage: realserver_reconnect.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init reconnect
sv_net_up
sv_lan_up 64
sv_server_up
sv_proxy_prepare "$1"
# shellcheck disable=SC2119 # default arguments
sv_proxy_start
ip0=$SV_READY_IP

# 64 MiB at 8 MB/s: about 8 s, long enough to cut the tunnel twice underneath it.
(sv_curl --limit-rate 8M --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" |
	sha256sum | cut -d' ' -f1 >"$SV_ROOT/got") &
curl_pid=$!
SV_PIDS+=("$curl_pid")

kill_tunnel() {
	local n
	n=$(ip netns exec "$SV_NS_CLI" ss -Htn state established dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" | wc -l)
	[ "$n" -ge 1 ] || sv_fail "no established tunnel connection to kill"
	ip netns exec "$SV_NS_CLI" ss -K dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" >/dev/null
	sv_log "tunnel connection destroyed ($1)"
}
sleep 2
kill_tunnel "first"
sv_wait_until 10 "the first reconnect" \
	sh -c "[ \$(grep -c 'established on hub' '$SV_PROXY_LOG') -ge 2 ]"
sleep 2
kill_tunnel "second"

wait "$curl_pid" || sv_fail "the download through SOCKS5 failed across the reconnects"
got=$(cat "$SV_ROOT/got")
[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "sha256 $got after reconnects, expected $SV_BIG_SHA256"
sv_proxy_check_alive
n=$(grep -c "established on hub" "$SV_PROXY_LOG")
[ "$n" -ge 3 ] || sv_fail "expected 3 sessions in the log (1 + 2 reconnects), saw $n"
grep -q "reconnecting now" "$SV_PROXY_LOG" || sv_fail "no reconnect logged"
grep "was lost\|reconnecting\|established on hub" "$SV_PROXY_LOG" | sed 's/^/    /' >&2

# The same address after both reconnects: DHCP confirmed the lease for the same MAC.
grep -q "DHCPREQUEST.* ${ip0%/*} " "$SV_ROOT/lan/dnsmasq.log" ||
	sv_fail "no DHCPREQUEST for ${ip0%/*} after the reconnect"
body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/small.txt") ||
	sv_fail "a new connection after the reconnects failed"
[ "$body" = "hello over IPv6" ] || sv_fail "small.txt after reconnects: '$body'"
sv_log "64 MiB intact across 2 tunnel losses, $n sessions, address ${ip0%/*} kept"
sv_log "PASS"
