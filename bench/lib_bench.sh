# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing scripts
# Measurements shared by bench/bench_real.sh (real server, official client as reference)
# and bench/bench_hub.sh (sevpn-testhub on loopback): one function per test, each appending
# raw values to $B_OUT/raw.tsv as  TOPOLOGY CLIENT METRIC RUN VALUE  (tab-separated);
# bench/report.py turns them into medians, ratios and the chart.
#
# The sourcing script sets:
#   B_OUT B_TOPO            output dir, topology name (real | hub)
#   B_RUN=(...)             prefix running a command on the client side (e.g. ip netns exec)
#   B_URL                   base URL of the web server as seen through the VPN
#   B_FILE B_BYTES          the file served as $B_URL/bench.bin (also uploaded), its size
#   B_SOCKS                 sevpn-proxy's SOCKS5 address
#   B_FWD                   local forwarder to the iperf3 server through SOCKS5 (socksfwd.py)
#   B_IPERF                 the iperf3 server as seen through the VPN (official: direct)
#   B_TARGET                connect target (web server) as seen through the VPN
#   B_PID[official|sevpn|server|fwd]
#   B_IPERF_T B_CONN_N B_RATE_N
#   B_PY                    python3

B_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B_TCK=$(getconf CLK_TCK)
declare -A B_PID

b_log() { printf '[bench %s %4ss] %s\n' "${B_TOPO:-}" "$SECONDS" "$*" >&2; }

# b_record CLIENT METRIC RUN VALUE
b_record() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$B_TOPO" "$1" "$2" "$3" "$4" >>"$B_OUT/raw.tsv"
}

# b_meta KEY VALUE...: free-form notes for the report (machine, niceness, versions).
b_meta() {
	local k=$1
	shift
	printf '%s\t%s\t%s\n' "$B_TOPO" "$k" "$*" >>"$B_OUT/meta.tsv"
}

# utime+stime of a process (all threads) in clock ticks; 0 when there is no such process.
b_ticks() {
	if [ -z "${1:-}" ] || [ ! -r "/proc/$1/stat" ]; then
		echo 0
		return
	fi
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# b_rss PID FIELD: VmRSS / VmHWM in kB.
b_rss() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# b_json FILE EXPR: a value from a JSON file (EXPR in Python over d).
b_json() { "$B_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# b_transfer TEST CLIENT RUN, TEST one of
#   curl_dl  curl GET of bench.bin        curl_ul  curl PUT of the same file
#   ip_dl    iperf3 -R (server sends)     ip_ul    iperf3 (client sends)
#   ip4_dl   iperf3 -R -P 4
# Records TEST_MBps (10^6 bytes/s), TEST_cpu_client / _cpu_server / _cpu_fwd (CPU s per
# 10^9 bytes over the whole command).
b_transfer() {
	local test=$1 client=$2 run=$3 socks=() out=$B_OUT/last.json ip port bytes secs
	local pc=${B_PID[$client]} ps=${B_PID[server]} pf=
	[ "$client" = sevpn ] && socks=(--socks5 "$B_SOCKS")
	local c0 s0 f0 c1 s1 f1
	case $test in
	ip_* | ip4_*) if [ "$client" = sevpn ]; then
		pf=${B_PID[fwd]}
		ip=${B_FWD%:*} port=${B_FWD##*:}
	else
		ip=${B_IPERF%:*} port=${B_IPERF##*:}
	fi ;;
	esac
	c0=$(b_ticks "$pc") s0=$(b_ticks "$ps") f0=$(b_ticks "$pf")
	case $test in
	curl_dl)
		"${B_RUN[@]}" curl -sS --max-time 900 -o /dev/null -w '%{size_download} %{time_total}' \
			"${socks[@]}" "$B_URL/bench.bin" >"$out" || { b_log "$test $client: curl failed"; return 1; }
		read -r bytes secs <"$out"
		;;
	curl_ul)
		"${B_RUN[@]}" curl -sS --max-time 900 -T "$B_FILE" -H 'Expect:' -o "$B_OUT/put.txt" \
			-w '%{size_upload} %{time_total}' "${socks[@]}" "$B_URL/up" >"$out" ||
			{ b_log "$test $client: curl failed"; return 1; }
		read -r bytes secs <"$out"
		grep -qx "received $B_BYTES" "$B_OUT/put.txt" ||
			{ b_log "$test $client: the server got $(cat "$B_OUT/put.txt")"; return 1; }
		;;
	ip_dl | ip_ul | ip4_dl)
		local a=()
		[ "$test" != ip_ul ] && a+=(-R)
		[ "$test" = ip4_dl ] && a+=(-P 4)
		"${B_RUN[@]}" iperf3 -c "$ip" -p "$port" -t "$B_IPERF_T" -J "${a[@]}" >"$out" 2>&1 ||
			{ b_log "$test $client: iperf3 failed: $(head -c 300 "$out")"; return 1; }
		bytes=$(b_json "$out" 'd["end"]["sum_received"]["bytes"]')
		secs=$(b_json "$out" 'd["end"]["sum_received"]["seconds"]')
		;;
	esac
	c1=$(b_ticks "$pc") s1=$(b_ticks "$ps") f1=$(b_ticks "$pf")
	[ "$test" = curl_dl ] && [ "$bytes" != "$B_BYTES" ] &&
		{ b_log "$test $client: $bytes bytes, expected $B_BYTES"; return 1; }
	local r
	r=$(awk -v b="$bytes" -v t="$secs" -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v f="$((f1 - f0))" \
		-v k="$B_TCK" 'BEGIN { printf "%.1f %.3f %.3f %.3f", b / t / 1e6, c / k / (b / 1e9),
			s / k / (b / 1e9), f / k / (b / 1e9) }')
	local mbps cc cs cf
	read -r mbps cc cs cf <<<"$r"
	b_record "$client" "${test}_MBps" "$run" "$mbps"
	b_record "$client" "${test}_cpu_client" "$run" "$cc"
	[ -n "$ps" ] && b_record "$client" "${test}_cpu_server" "$run" "$cs"
	[ -n "$pf" ] && b_record "$client" "${test}_cpu_fwd" "$run" "$cf"
	b_log "run $run $test $client: $mbps MB/s; CPU s/GB client $cc server $cs${pf:+ forwarder $cf}"
}

# b_connect CLIENT RUN: connect latency (sequential), setup rate sequential and 16-way.
# official: raw connect() through the NIC; sevpn: SOCKS5 CONNECT request -> reply.
b_connect() {
	local client=$1 run=$2 how out=$B_OUT/last.json c0 c1 s0 s1
	if [ "$client" = sevpn ]; then how=(--socks "$B_SOCKS"); else how=(--raw); fi
	"${B_RUN[@]}" "$B_PY" "$B_HERE/connbench.py" latency "${how[@]}" --target "$B_TARGET" \
		-n "$B_CONN_N" >"$out" || { b_log "latency $client failed"; return 1; }
	b_record "$client" connect_p50_ms "$run" "$(b_json "$out" 'd["connect_ms"]["p50"]')"
	b_record "$client" connect_p99_ms "$run" "$(b_json "$out" 'd["connect_ms"]["p99"]')"
	b_record "$client" connect_full_p50_ms "$run" "$(b_json "$out" 'd["full_ms"]["p50"]')"
	b_log "run $run latency $client: $(b_json "$out" '"p50 %.3f p99 %.3f ms (full p50 %.3f)" % (d["connect_ms"]["p50"], d["connect_ms"]["p99"], d["full_ms"]["p50"])')"
	local c n
	for c in 1 16; do
		n=$B_RATE_N
		[ "$c" -gt 1 ] && n=$((B_RATE_N * 2))
		c0=$(b_ticks "${B_PID[$client]}") s0=$(b_ticks "${B_PID[server]}")
		"${B_RUN[@]}" "$B_PY" "$B_HERE/connbench.py" rate "${how[@]}" --target "$B_TARGET" \
			-n "$n" -c "$c" >"$out" || { b_log "rate $client failed"; return 1; }
		c1=$(b_ticks "${B_PID[$client]}") s1=$(b_ticks "${B_PID[server]}")
		b_record "$client" "rate_c${c}_per_s" "$run" "$(b_json "$out" 'd["per_s"]')"
		b_record "$client" "rate_c${c}_errors" "$run" "$(b_json "$out" 'd["errors"]')"
		b_record "$client" "rate_c${c}_gen_busy" "$run" "$(b_json "$out" 'd["gen_busy"]')"
		b_record "$client" "rate_c${c}_busy_client" "$run" \
			"$(awk -v c="$((c1 - c0))" -v k="$B_TCK" -v t="$(b_json "$out" 'd["seconds"]')" 'BEGIN { printf "%.3f", c / k / t }')"
		b_record "$client" "rate_c${c}_busy_server" "$run" \
			"$(awk -v c="$((s1 - s0))" -v k="$B_TCK" -v t="$(b_json "$out" 'd["seconds"]')" 'BEGIN { printf "%.3f", c / k / t }')"
		b_log "run $run rate x$c $client: $(b_json "$out" '"%.0f/s, %d errors %s, generator busy %.2f" % (d["per_s"], d["errors"], d["first_error"] or "", d["gen_busy"])'); client busy $(tail -n2 "$B_OUT/raw.tsv" | head -n1 | cut -f5), server busy $(tail -n1 "$B_OUT/raw.tsv" | cut -f5) (CPU s per s)"
	done
}

# b_round RUN CLIENTS...: every test once, the clients taking turns test by test; the
# order of the clients flips from one run to the next.
b_round() {
	local run=$1 t c order
	shift
	order=("$@")
	if [ $((run % 2)) -eq 0 ] && [ "$#" -eq 2 ]; then order=("$2" "$1"); fi
	for t in curl_dl curl_ul ip_dl ip_ul ip4_dl; do
		for c in "${order[@]}"; do
			b_transfer "$t" "$c" "$run" || b_record "$c" "${t}_failed" "$run" 1
		done
	done
	for c in "${order[@]}"; do
		b_connect "$c" "$run" || b_record "$c" connect_failed "$run" 1
	done
}

# b_machine: host notes for the report.
b_machine() {
	b_meta host "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
	b_meta load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
	b_meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
}
