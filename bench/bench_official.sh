#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Single-stream download benchmark: Debian's official SoftEther VPN Client (TAP NIC in a
# network namespace, kernel TCP) against sevpn-proxy (SOCKS5, lwIP), both through the same
# real SoftEther VPN Server, hub and LAN web server (topology: tests/integration/lib.sh).
#
# Usage (root):  bench/bench_official.sh [PATH/TO/sevpn-proxy]
#   SV_BENCH_MIB=1024   size of the random file downloaded
#   SV_BENCH_RUNS=3     runs per client; the clients alternate
# Without a sevpn-proxy binary only the official client is measured.
#
# Both clients: one TCP connection to the server, encryption on (TLS), compression off;
# the official client with QoS and UDP acceleration off (AccountDetailSet). Both run at
# nice -20: SoftEther renices itself to -20, so sevpn-proxy is started with nice -n -20.
# curl (the consumer) runs at nice 0 in the client namespace, writing to /dev/null, with
# an IPv4 literal URL (no DNS in the timed path). MB/s = 10^6 bytes per second of
# curl's total time. CPU = utime+stime of the client process (all threads) across the
# download, from /proc/PID/stat; the vpnserver worker's CPU is shown for context, and so
# is the client->server traffic (packets and bytes sent on the client namespace's link),
# and the losses: segments the LAN web server retransmitted and its retransmission
# timeouts (nstat in the LAN namespace), and frames the server's local bridge lost on its
# packet socket (ss -0 -m in the server namespace, drop counter d).
# Prints a markdown table on stdout; progress on stderr.
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"

MIB=${SV_BENCH_MIB:-1024}
RUNS=${SV_BENCH_RUNS:-3}
PROXY=${1:-}
: "${SV_IT_DEADLINE:=3000}"

sv_it_init bench
sv_net_up
sv_lan_up "$MIB" bench.bin
sv_server_up
sv_vpnclient_up
if [ -n "$PROXY" ]; then
	sv_proxy_prepare "$PROXY"
	# shellcheck disable=SC2119 # default arguments
	SV_PROXY_NICE=-20 sv_proxy_start
	sv_check_no_caps "$SV_PROXY_PID" 2>/dev/null
fi

TCK=$(getconf CLK_TCK)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
BYTES=$((MIB * 1048576))
URL=http://$SV_LAN_IP/bench.bin
SRV_WORKER=
for f in "$SV_ROOT"/srv/run/.pid_*; do SRV_WORKER=$(tr -dc 0-9 <"$f"); done

nice_of() { ps -o ni= -p "$1" | tr -d ' '; }
VCL_NICE=$(nice_of "$SV_VCL_WORKER")
PROXY_NICE=
[ -n "$PROXY" ] && PROXY_NICE=$(nice_of "$SV_PROXY_PID")
sv_log "niceness: vpnclient $VCL_NICE, sevpn-proxy ${PROXY_NICE:-n/a}, vpnserver $(nice_of "$SRV_WORKER")"

# Client->server traffic on the client namespace's link (both clients share it; the idle
# one only sends keep-alives): how chatty the upstream (ACKs, records) is.
tx_stat() { ip netns exec "$SV_NS_CLI" cat "/sys/class/net/$SV_IF_CLI/statistics/tx_$1"; }
# "retransmitted-segments timeouts bridge-drops" so far
loss_stat() {
	local n d
	n=$(ip netns exec "$SV_NS_LAN" nstat -asz TcpRetransSegs TcpExtTCPTimeouts |
		awk '$1 == "TcpRetransSegs" { r = $2 } $1 == "TcpExtTCPTimeouts" { t = $2 } END { print r + 0, t + 0 }')
	d=$(ip netns exec "$SV_NS_SRV" ss -0 -a -n -m | grep -o ',d[0-9]*)' | tr -dc '0-9\n' |
		awk '{ s += $1 } END { print s + 0 }')
	echo "$n $d"
}

# one_run KIND: prints "MBps client_cpu_s server_cpu_s upstream_pkts upstream_bytes
# retransmitted_segments timeouts bridge_drops"
one_run() {
	local kind=$1 pid c0 c1 s0 s1 p0 p1 b0 b1 l0 l1 out size secs
	local args=(-o /dev/null -w '%{size_download} %{time_total}')
	if [ "$kind" = official ]; then
		pid=$SV_VCL_WORKER
	else
		pid=$SV_PROXY_PID
		args+=(--socks5 "$SV_SOCKS")
	fi
	c0=$(sv_cpu_ticks "$pid")
	s0=$(sv_cpu_ticks "$SRV_WORKER")
	p0=$(tx_stat packets)
	b0=$(tx_stat bytes)
	l0=$(loss_stat)
	out=$(SV_CURL_TIMEOUT=900 sv_curl "${args[@]}" "$URL") || sv_fail "$kind: curl failed"
	c1=$(sv_cpu_ticks "$pid")
	s1=$(sv_cpu_ticks "$SRV_WORKER")
	p1=$(tx_stat packets)
	b1=$(tx_stat bytes)
	l1=$(loss_stat)
	read -r size secs <<<"$out"
	[ "$size" -eq "$BYTES" ] || sv_fail "$kind: downloaded $size bytes, expected $BYTES"
	awk -v b="$size" -v t="$secs" -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v k="$TCK" \
		-v p="$((p1 - p0))" -v u="$((b1 - b0))" -v l0="$l0" -v l1="$l1" \
		'BEGIN { split(l0, x, " "); split(l1, y, " ")
			printf "%.1f %.2f %.2f %d %d %d %d %d\n", b / t / 1e6, c / k, s / k, p, u,
				y[1] - x[1], y[2] - x[2], y[3] - x[3] }'
}

declare -A RES
for ((i = 1; i <= RUNS; i++)); do
	for kind in official sevpn; do
		[ "$kind" = sevpn ] && [ -z "$PROXY" ] && continue
		r=$(one_run "$kind")
		RES[$kind]+="$r"$'\n'
		sv_log "run $i $kind: $r (MB/s, client CPU s, server CPU s, upstream packets, bytes, LAN retransmits, timeouts, bridge drops)"
	done
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { printf '%s' "${RES[$1]}" | awk -v c="$2" 'NF { print $c }'; }
row() { # KIND LABEL NICE
	local mbps cpu srv lo hi pk up rt to dr
	mbps=$(col "$1" 1 | median)
	lo=$(col "$1" 1 | sort -g | head -n1)
	hi=$(col "$1" 1 | sort -g | tail -n1)
	cpu=$(col "$1" 2 | median)
	srv=$(col "$1" 3 | median)
	pk=$(col "$1" 4 | median)
	up=$(col "$1" 5 | median)
	rt=$(col "$1" 6 | median)
	to=$(col "$1" 7 | median)
	dr=$(col "$1" 8 | median)
	printf '| %s | %s | %s | %s–%s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$RUNS" "$mbps" "$lo" "$hi" "$cpu" \
		"$(awk -v c="$cpu" -v m="$MIB" 'BEGIN { printf "%.2f", c * 1024 / m }')" "$srv" \
		"$(awk -v p="$pk" -v m="$MIB" 'BEGIN { printf "%.0f", p / m }')" \
		"$(awk -v u="$up" -v m="$MIB" 'BEGIN { printf "%.1f", u / m / 1024 }')" \
		"$(awk -v r="$rt" -v m="$MIB" 'BEGIN { printf "%.0f", r / m }')" "$to" \
		"$(awk -v d="$dr" -v m="$MIB" 'BEGIN { printf "%.0f", d / m }')"
}

echo
echo "Single TCP stream, $MIB MiB random file, $RUNS runs each (alternating), $(date -u +%Y-%m-%d)."
echo "Host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r);"
echo "load average before: $LOAD0 (the machine is shared; numbers are noisy)."
echo "server: Debian softether-vpnserver $(dpkg-query -W -f='${Version}' softether-vpnserver 2>/dev/null);" \
	"niceness: vpnclient $VCL_NICE, sevpn-proxy ${PROXY_NICE:-n/a}, vpnserver $(nice_of "$SRV_WORKER")."
echo
echo "| client | runs | median MB/s | min–max MB/s | client CPU s (median) | client CPU s per GiB | vpnserver CPU s (median) | upstream packets per MiB | upstream KiB per MiB | LAN retransmits per MiB | LAN timeouts (median) | bridge drops per MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
row official "official vpnclient (TAP, kernel TCP)"
[ -n "$PROXY" ] && row sevpn "sevpn-proxy (SOCKS5, lwIP)"
if [ -n "$PROXY" ]; then
	o=$(col official 1 | median)
	s=$(col sevpn 1 | median)
	oc=$(col official 2 | median)
	sc=$(col sevpn 2 | median)
	echo
	awk -v o="$o" -v s="$s" -v oc="$oc" -v sc="$sc" 'BEGIN {
		printf "sevpn-proxy / official: throughput %.2fx, client CPU for the same bytes %.2fx\n", s / o, sc / oc }'
fi
sv_log "done"
