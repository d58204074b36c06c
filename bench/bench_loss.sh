#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Where the downloads of bench_official.sh lose packets: the LAN web server's TCP
# counters (retransmissions, SACK recoveries, RTOs) for each client's download, from
# nstat in the LAN namespace. Same topology as bench_official.sh.
#
# Usage (root):  bench/bench_loss.sh PATH/TO/sevpn-proxy
#   SV_BENCH_MIB=256   size of the random file downloaded
#   SV_BENCH_RUNS=2    runs per client; the clients alternate
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"

MIB=${SV_BENCH_MIB:-256}
RUNS=${SV_BENCH_RUNS:-2}
PROXY=${1:?usage: bench_loss.sh PATH/TO/sevpn-proxy}
: "${SV_IT_DEADLINE:=1200}"

sv_it_init loss
sv_net_up
sv_lan_up "$MIB" bench.bin
sv_server_up
sv_vpnclient_up
sv_proxy_prepare "$PROXY"
# shellcheck disable=SC2119 # default arguments
SV_PROXY_NICE=-20 sv_proxy_start
command -v nstat >/dev/null 2>&1 || sv_skip "nstat (iproute2) not installed"
URL=http://$SV_LAN_IP/bench.bin
KEYS='TcpOutSegs|TcpRetransSegs|TcpExtTCPSackRecovery|TcpExtTCPTimeouts|TcpExtTCPSACKReneging|TcpExtTCPLostRetransmit'
for ((i = 1; i <= RUNS; i++)); do
	for kind in official sevpn; do
		args=(-o /dev/null -w '%{size_download} bytes in %{time_total} s')
		[ "$kind" = sevpn ] && args+=(--socks5 "$SV_SOCKS")
		ip netns exec "$SV_NS_LAN" nstat -n >/dev/null
		out=$(SV_CURL_TIMEOUT=900 sv_curl "${args[@]}" "$URL") || sv_fail "$kind: curl failed"
		printf '%s run %d: %s; server TCP: %s\n' "$kind" "$i" "$out" \
			"$(ip netns exec "$SV_NS_LAN" nstat | awk -v k="^($KEYS)\$" '$1 ~ k { printf "%s %s ", $1, $2 }')"
	done
done
sv_log "done"
