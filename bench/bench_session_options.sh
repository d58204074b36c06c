#!/bin/bash
# Session options on the real server: single-stream 64 MiB downloads through SOCKS5 with
# the default (1 TCP connection, no compression), --max-tcp 2, --max-tcp 4 and --compress,
# alternating, SV_BENCH_RUNS rounds (default 3); prints the median MB/s of each and the
# ratio to the default. The file is random, so compression can only cost.
# usage: bench/bench_session_options.sh PATH/TO/sevpn-proxy      (root)
. "$(dirname "$0")/../tests/integration/lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
BIN=$1
RUNS=${SV_BENCH_RUNS:-3}
sv_it_init benchopts
sv_net_up
sv_lan_up 64
sv_server_up
sv_proxy_prepare "$BIN"
VARIANTS=("default" "--max-tcp 2" "--max-tcp 4" "--compress")
declare -A speeds
for ((r = 0; r < RUNS; r++)); do
	for v in "${VARIANTS[@]}"; do
		args=$v
		[ "$v" = default ] && args=
		# shellcheck disable=SC2086 # the variant is a word list
		sv_proxy_start $args
		sleep 2 # extra connections join
		t0=$(sv_now)
		got=$(sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" | sha256sum | cut -d' ' -f1)
		t1=$(sv_now)
		[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "sha256 mismatch with '$v'"
		mbs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 67.108864 / (b - a) }')
		speeds["$v"]="${speeds["$v"]:-} $mbs"
		kill -TERM "$SV_PROXY_PID"
		sv_wait_gone "$SV_PROXY_PID" 5 || true
		sv_log "round $((r + 1)) $v: $mbs MB/s"
	done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
base=$(echo "${speeds[default]}" | median)
echo "| variant | runs (MB/s) | median MB/s | vs default |"
echo "|---|---|---|---|"
for v in "${VARIANTS[@]}"; do
	m=$(echo "${speeds["$v"]}" | median)
	echo "| $v |${speeds["$v"]} | $m | $(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.2fx", a / b }') |"
done
