#!/bin/bash
# A 256 MiB download through SOCKS5 survives every kind of tunnel loss on the real
# server: the tunnel's TCP connection reset (RST), closed with a FIN but no TLS
# close_notify (which makes a 5.01 server kill the whole session), and a restart of the
# server itself. The client goes through tests/integration/tcprelay.py so the cuts hit
# both sides. sha256 must match and the client's log must show each reconnect.
# Usage: realserver_drops.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init drops
sv_net_up
sv_lan_up 256
sv_server_up
RELAY_PORT=4443
ip netns exec "$SV_NS_CLI" "$SV_PY" "$SV_IT_LIB_DIR/tcprelay.py" "$RELAY_PORT" "$SV_SRV_IP" \
	"$SV_SRV_PORT" >"$SV_ROOT/relay.out" 2>"$SV_ROOT/relay.log" &
RELAY_PID=$!
SV_PIDS+=("$RELAY_PID")
sv_wait_until 10 "the relay to listen" grep -q listening "$SV_ROOT/relay.out"
sv_proxy_prepare "$1"
sv_proxy_start --server "127.0.0.1:$RELAY_PORT"

sessions() { grep -c "established on hub\|re-attached" "$SV_PROXY_LOG" || true; }
# N WHAT: at least N sessions so far, and no new one for 3 s (a re-attach that a 5.01
# server drops at once is followed by a full login: cut only a tunnel that holds).
wait_sessions() {
	sv_wait_until 30 "$2" sh -c "[ \$(grep -c 'established on hub\\|re-attached' '$SV_PROXY_LOG') -ge $1 ]"
	local last now stable=0
	last=$(sessions)
	while [ "$stable" -lt 30 ]; do
		sleep 0.1
		now=$(sessions)
		if [ "$now" = "$last" ]; then stable=$((stable + 1)); else stable=0; last=$now; fi
	done
}

(sv_curl --max-time 300 --limit-rate 24M --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" |
	sha256sum | cut -d' ' -f1 >"$SV_ROOT/got") &
curl_pid=$!
SV_PIDS+=("$curl_pid")

sleep 2
n=$(sessions)
kill -USR2 "$RELAY_PID"
sv_log "cut the tunnel with RST"
wait_sessions $((n + 1)) "a session after the RST"
sleep 2
n=$(sessions)
kill -USR1 "$RELAY_PID"
sv_log "cut the tunnel with FIN, no close_notify"
wait_sessions $((n + 1)) "a session after the FIN"
sleep 2
n=$(sessions)
sv_log "restarting the server"
sv_stop_softether "$SV_ROOT/srv"
sv_softether_start vpnserver "$SV_NS_SRV" "$SV_ROOT/srv"
sv_wait_until 20 "vpnserver to listen again" \
	sh -c "ip netns exec '$SV_NS_SRV' ss -Hltn 'sport = :$SV_SRV_PORT' | grep -q LISTEN"
sv_wait_until 20 "the local bridge to operate again" sv_bridge_operating
wait_sessions $((n + 1)) "a session after the server restart"

wait "$curl_pid" || sv_fail "the download failed across the tunnel losses"
got=$(cat "$SV_ROOT/got")
[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "sha256 $got, expected $SV_BIG_SHA256"
sv_proxy_check_alive
grep "was lost\|reconnecting\|re-attach\|established on hub\|logging in again" "$SV_PROXY_LOG" |
	sed 's/^/    /' >&2
sv_log "256 MiB intact across RST, FIN-without-close_notify and a server restart ($(sessions) sessions)"
sv_log "PASS"
