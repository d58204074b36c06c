#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Connection setup rate of sevpn-proxy binaries through one test hub, side by side
# (no root): each round runs connbench.py rate through A, then B, ... (order rotated every
# round), sequential (-c 1, N) and 16 threads (-c 16, 2N); then a long run of LONG
# connections in 16 threads through each, reported per chunk of 2,000, to show what
# happens past lwIP's 16,383 ephemeral ports held in TIME_WAIT. Client CPU per
# connection from /proc/PID/task/*/schedstat (ns; 10 ms ticks of /proc/PID/stat if
# absent). Target: connbench.py hold on 127.0.0.1, reached as
# 10.77.0.1 through the hub.
# usage: [ROUNDS=3] [N=1000] [LONG=20000] connrate_ab.sh SEVPN_TESTHUB PROXY_A PROXY_B [PROXY_C...]
#   defaults: 3 rounds, N=1000, LONG=20000. Prints one TSV line per measurement:
#   client  test  round(long: connections so far)  conns_per_s  errors  cpu_us_per_conn
#   A chunk that takes longer than CHUNK_TIMEOUT s (default 120) prints "stalled" and
#   ends that client's long run.
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/hub/hublib.sh
. "$HERE/../tests/hub/hublib.sh"
[ "$#" -ge 3 ] || { echo "usage: $0 SEVPN_TESTHUB PROXY_A PROXY_B [PROXY_C...]" >&2; exit 2; }
HUB_BIN=$1
shift
BINS=("$@")
[ "${#BINS[@]}" -le 6 ] || { echo "at most 6 clients" >&2; exit 2; }
LABELS=(A B C D E F)
LABELS=("${LABELS[@]:0:${#BINS[@]}}")
ROUNDS=${ROUNDS:-3} N=${N:-1000} LONG=${LONG:-20000}
hl_init connrate "$HUB_BIN" "${BINS[0]}"
TCK=$(getconf CLK_TCK)

hl_hub_start hub --max-sessions 8
HOLD_PORT=$(hl_free_port)
"$HL_PY" "$HERE/connbench.py" hold 127.0.0.1 "$HOLD_PORT" >"$HL_W/hold.out" 2>"$HL_W/hold.err" &
HL_PIDS+=($!)
n=50
until grep -qs listening "$HL_W/hold.out"; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || hl_fail "the hold listener did not start"
	sleep 0.1
done
declare -A SOCKS PID
for ((i = 0; i < ${#BINS[@]}; i++)); do
	c=${LABELS[i]}
	HL_PROXY_BIN=${BINS[i]}
	hl_proxy_start "proxy$c" --no-config
	SOCKS[$c]=$HL_SOCKS
	PID[$c]=$HL_PROXY_PID
	hl_log "$c=${BINS[i]}"
done

# CPU time of all the client's threads: nanoseconds on the CPU from
# /proc/PID/task/*/schedstat (TCK=1e9), or 10 ms ticks from /proc/PID/stat where the
# kernel has no schedstat.
if [ -r "/proc/self/schedstat" ]; then
	TCK=1000000000
	ticks() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
else
	ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
fi

# measure CLIENT TEST ROUND N CONC
measure() {
	local c=$1 t=$2 r=$3 n=$4 conc=$5 t0 t1 out=$HL_W/last.json
	t0=$(ticks "${PID[$c]}")
	if ! timeout "${CHUNK_TIMEOUT:-120}" "$HL_PY" "$HERE/connbench.py" rate --socks "${SOCKS[$c]}" \
		--target "10.77.0.1:$HOLD_PORT" -n "$n" -c "$conc" >"$out"; then
		printf '%s\t%s\t%s\tstalled\t-\t-\n' "$c" "$t" "$r"
		return 1
	fi
	t1=$(ticks "${PID[$c]}")
	hl_alive "${PID[$c]}" || hl_fail "proxy $c died"
	"$HL_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=int(sys.argv[6]); print("%s\t%s\t%s\t%.0f\t%d\t%.0f" % (sys.argv[2], sys.argv[3], sys.argv[4], d["per_s"], d["errors"], (int(sys.argv[5]) * 1e6 / int(sys.argv[7])) / max(n - d["errors"], 1)))' \
		"$out" "$c" "$t" "$r" "$((t1 - t0))" "$n" "$TCK"
}

for ((r = 1; r <= ROUNDS; r++)); do
	k=$(((r - 1) % ${#LABELS[@]}))
	order=("${LABELS[@]:k}" "${LABELS[@]:0:k}")
	for c in "${order[@]}"; do measure "$c" seq "$r" "$N" 1; done
	for c in "${order[@]}"; do measure "$c" c16 "$r" "$((2 * N))" 16; done
done
# Last first: a client that stalls (A, the reference, with lwIP's ports exhausted) keeps
# a core busy.
for ((i = ${#LABELS[@]} - 1; i >= 0; i--)); do
	c=${LABELS[i]}
	# PERF_DIR=DIR: perf record -g of each client during its long run (DIR/perf.A ...)
	if [ -n "${PERF_DIR:-}" ]; then
		perf record -q -g -p "${PID[$c]}" -o "$PERF_DIR/perf.$c" 2>/dev/null &
		perf_pid=$!
	fi
	for ((k = 1; k * 2000 <= LONG; k++)); do
		measure "$c" long16 "$((k * 2000))" 2000 16 || break
	done
	if [ -n "${PERF_DIR:-}" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
	fi
done
hl_log "done"
