#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Part of bench/run_all.sh: sevpn-proxy against Debian's official SoftEther VPN Client on
# the real-server topology of tests/integration/lib.sh (vpnserver, LAN web server and
# iperf3 server behind its local bridge). Root only. Raw results go to $B_OUT/raw.tsv.
# Usage: bench_real.sh PATH/TO/sevpn-proxy   (B_OUT, SV_BENCH_* from run_all.sh)
# shellcheck source=../tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=lib_bench.sh
. "$(dirname "$0")/lib_bench.sh"

PROXY=${1:?usage: bench_real.sh PATH/TO/sevpn-proxy}
: "${B_OUT:?set by run_all.sh}"
RUNS=${SV_BENCH_RUNS:-5}
MIB=${SV_BENCH_MIB:-512}
B_IPERF_T=${SV_BENCH_IPERF_S:-5}
B_CONN_N=${SV_BENCH_CONN_N:-300}
B_RATE_N=${SV_BENCH_RATE_N:-500}
B_TOPO=real
: "${SV_IT_DEADLINE:=1500}"
NICE=-20

sv_it_init bench
B_PY=$SV_PY
for t in iperf3 busybox; do
	command -v "$t" >/dev/null 2>&1 || sv_skip "$t not installed (scripts/install-deps.sh --integration)"
done
sv_net_up
sv_lan_up "$MIB" bench.bin
sv_server_up
sv_vpnclient_up
B_FILE=$SV_ROOT/lan/www/bench.bin
B_BYTES=$((MIB * 1048576))

# The benchmark's servers in the LAN namespace: web server (GET + PUT sink), iperf3.
ip netns exec "$SV_NS_LAN" "$B_PY" "$B_HERE/benchd.py" "$SV_LAN_IP" 8080 "$SV_ROOT/lan/www" \
	>"$SV_ROOT/lan/benchd.log" 2>&1 &
SV_PIDS+=($!)
ip netns exec "$SV_NS_LAN" iperf3 -s -B "$SV_LAN_IP" -p 5201 >"$SV_ROOT/lan/iperf3.log" 2>&1 &
SV_PIDS+=($!)
sv_wait_until 10 "benchd" ip netns exec "$SV_NS_LAN" curl -sf -o /dev/null "http://$SV_LAN_IP:8080/small.txt"
sv_wait_until 10 "iperf3 -s" sh -c "ip netns exec '$SV_NS_LAN' ss -Hltn 'sport = :5201' | grep -q LISTEN"
B_RUN=(ip netns exec "$SV_NS_CLI")
B_URL=http://$SV_LAN_IP:8080
B_TARGET=$SV_LAN_IP:8080
B_IPERF=$SV_LAN_IP:5201
B_SOCKS=$SV_SOCKS
B_FWD=127.0.0.1:5202
SRV_WORKER=
for f in "$SV_ROOT"/srv/run/.pid_*; do SRV_WORKER=$(tr -dc 0-9 <"$f"); done
B_PID[server]=$SRV_WORKER
B_PID[official]=$SV_VCL_WORKER
nice_of() { ps -o ni= -p "$1" | tr -d ' '; }

sv_proxy_prepare "$PROXY"
sv_proxy_args

# --- start -> ready ------------------------------------------------------------------
# sevpn-proxy: from just before the fork to its `ready` line (a fresh process each time,
# nice -20 like the main run, -v to see the steps). Official: the daemon is running; from
# `vpncmd AccountConnect` (and, stricter for us, from the engine's own "Connection
# processing ... has started" log line) until busybox udhcpc has a lease on vpn_vpn for the
# NIC's unchanged MAC; udhcpc starts as soon as the client logs "Now connected" (polled
# every 10 ms).
VCL_LOG() { ls "$SV_ROOT"/vcl/log/client_log/*.log; }
log_epoch() { # "YYYY-MM-DD HH:MM:SS.mmm" of the last line matching $1 -> epoch seconds
	local ts
	ts=$(grep "$1" "$(VCL_LOG)" | tail -n1 | cut -c1-23)
	date -d "$ts" +%s.%N
}
official_ready() {
	local run=$1 n0 t0 tc t1 tstart tconn
	n0=$(grep -c 'Now connected' "$(VCL_LOG)")
	sv_vpncmd "$SV_ROOT/vcl" localhost /CLIENT AccountDisconnect ref
	sv_wait_until 10 "the official client to disconnect" \
		sh -c "ip -n '$SV_NS_CLI' link show vpn_vpn | grep -q 'state DOWN'"
	ip -n "$SV_NS_CLI" addr flush dev vpn_vpn scope global
	sleep 1
	t0=$(sv_now)
	sv_vpncmd "$SV_ROOT/vcl" localhost /CLIENT AccountConnect ref
	local deadline=$((SECONDS + 20))
	until [ "$(grep -c 'Now connected' "$(VCL_LOG)")" -gt "$n0" ]; do
		[ "$SECONDS" -lt "$deadline" ] || sv_fail "official client did not reconnect"
		sleep 0.01
	done
	tc=$(sv_now)
	ip -n "$SV_NS_CLI" link set vpn_vpn up
	ip netns exec "$SV_NS_CLI" timeout 30 busybox udhcpc -i vpn_vpn -s "$SV_ROOT/vcl/udhcpc.sh" \
		-q -n -f -t 10 -T 1 >"$SV_ROOT/vcl/udhcpc.log" 2>&1 || sv_fail "official: no DHCP lease"
	t1=$(sv_now)
	tstart=$(log_epoch 'Connection processing for VPN Connection Setting "ref" has started')
	tconn=$(log_epoch 'Now connected')
	b_record official ready_s "$run" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	b_record official ready_engine_s "$run" "$(awk -v a="$tstart" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	b_record official ready_session_s "$run" "$(awk -v a="$tstart" -v b="$tconn" 'BEGIN { printf "%.3f", b - a }')"
	b_log "run $run start->ready official: $(awk -v a="$t0" -v b="$t1" -v s="$tstart" -v c="$tconn" -v d="$tc" \
		'BEGIN { printf "%.3f s from vpncmd, %.3f s from engine start (session %.3f s, seen %.3f s, DHCP %.3f s)", b - a, b - s, c - s, d - a, b - d }')"
}
sevpn_ready() {
	local run=$1 out=$SV_ROOT/startready.json
	"$B_PY" "$B_HERE/startready.py" --timeout 30 -- ip netns exec "$SV_NS_CLI" nice -n "$NICE" \
		setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" --clear-groups --inh-caps=-all \
		env -i PATH=/usr/bin:/bin HOME="$SV_ROOT/home" SEVPN_PASSWORD="$SV_PASS" \
		"$SV_PROXY_BIN" "${SV_PROXY_ARGS[@]}" -v >"$out" || sv_fail "startready.py failed"
	[ "$(b_json "$out" 'd["ready_s"] is not None')" = True ] || {
		cat "$out" >&2
		sv_fail "sevpn-proxy was not ready"
	}
	b_record sevpn ready_s "$run" "$(b_json "$out" '"%.3f" % d["ready_s"]')"
	b_record sevpn ready_session_s "$run" \
		"$(b_json "$out" '"%.3f" % [t for t, l in d["lines"] if "session: established" in l][0]')"
	b_log "run $run start->ready sevpn: $(b_json "$out" '"%.3f s (session %.3f s)" % (d["ready_s"], [t for t, l in d["lines"] if "session: established" in l][0])')"
	sleep 1
}

b_machine
b_meta server "Debian softether-vpnserver $(dpkg-query -W -f='${Version}' softether-vpnserver 2>/dev/null)"
b_meta params "runs $RUNS, curl file $MIB MiB, iperf3 $B_IPERF_T s, latency $B_CONN_N connections, rate $B_RATE_N (sequential) / $((B_RATE_N * 2)) (16 threads)"

for ((i = 1; i <= RUNS; i++)); do
	if [ $((i % 2)) -eq 1 ]; then
		official_ready "$i"
		sevpn_ready "$i"
	else
		sevpn_ready "$i"
		official_ready "$i"
	fi
done

# --- the long-lived client, the forwarder, the rounds ----------------------------------
# shellcheck disable=SC2119 # default arguments
SV_PROXY_NICE=$NICE sv_proxy_start
sv_check_no_caps "$SV_PROXY_PID" 2>/dev/null
B_PID[sevpn]=$SV_PROXY_PID
ip netns exec "$SV_NS_CLI" nice -n "$NICE" "$B_PY" "$B_HERE/socksfwd.py" "$B_FWD" "$B_SOCKS" "$B_IPERF" \
	>"$SV_ROOT/fwd.out" 2>"$SV_ROOT/fwd.log" &
B_PID[fwd]=$!
SV_PIDS+=("${B_PID[fwd]}")
sv_wait_until 10 "socksfwd.py" grep -q listening "$SV_ROOT/fwd.out"
# The same file through both paths once before timing (warm page cache, ARP, lwIP).
sv_curl -o /dev/null "http://$SV_LAN_IP:8080/small.txt"
sv_curl -o /dev/null --socks5 "$SV_SOCKS" "http://$SV_LAN_IP:8080/small.txt"

b_meta niceness "vpnclient $(nice_of "$SV_VCL_WORKER"), sevpn-proxy $(nice_of "$SV_PROXY_PID"), socksfwd.py $(nice_of "${B_PID[fwd]}"), vpnserver $(nice_of "$SRV_WORKER"); curl, iperf3, connbench.py 0"
b_log "niceness: $(awk -F'\t' '$2 == "niceness" { print $3 }' "$B_OUT/meta.tsv" | tail -n1)"

# A crash of the client ends the run; the report names it.
check_proxy() {
	local rc sig=
	sv_alive "$SV_PROXY_PID" && return 0
	wait "$SV_PROXY_PID" && rc=0 || rc=$?
	[ "$rc" -gt 128 ] && sig=", signal $(kill -l "$((rc - 128))" 2>/dev/null)"
	b_meta crash "sevpn-proxy died during run $1 (exit status $rc$sig); see the log above"
	sv_fail "sevpn-proxy died during run $1 (exit status $rc$sig)"
}

for ((i = 1; i <= RUNS; i++)); do
	b_round "$i" official sevpn
	check_proxy "$i"
done

for c in official sevpn; do
	b_record "$c" rss_kb 1 "$(b_rss "${B_PID[$c]}" VmRSS)"
	b_record "$c" hwm_kb 1 "$(b_rss "${B_PID[$c]}" VmHWM)"
done
b_record server rss_kb 1 "$(b_rss "$SRV_WORKER" VmRSS)"
b_log "RSS/HWM kB: official $(b_rss "$SV_VCL_WORKER" VmRSS)/$(b_rss "$SV_VCL_WORKER" VmHWM), sevpn $(b_rss "$SV_PROXY_PID" VmRSS)/$(b_rss "$SV_PROXY_PID" VmHWM)"
b_meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
b_log "done"
