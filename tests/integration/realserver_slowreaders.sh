#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Slow local readers against a real TCP peer (Linux on the LAN, window scaling on, so
# lwIP's 4 MB receive window is in play; the test hub's libslirp never scales its window):
# N SOCKS5 clients fetch the same file, read the first 4 MiB at full speed (their
# receive windows grow), then stop reading. With --max-buffer-memory 8M the client's
# resident memory grows by at most the budget plus 64 KiB per connection (plus allocator
# overhead); with 1G the same readers make it grow much more. Then every reader reads to
# the end and every body is checked (SHA-256). Also one download alone, to see the
# window grow to full speed.
# Usage: realserver_slowreaders.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# Measurement mode (bench/RESULTS.md): SV_SLOW_OLD=PATH/TO/old/sevpn-proxy also runs the
# given older binary (without --max-buffer-memory) and prints both; SV_SLOW_N, SV_SLOW_MIB,
# SV_SLOW_PRE (bytes read before stopping), SV_SLOW_ROUNDS (single-download rounds,
# old and new alternating), SV_SLOW_DRAIN=0 (close instead of reading to the end).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
N=${SV_SLOW_N:-20}
MIB=${SV_SLOW_MIB:-16}
PRE=${SV_SLOW_PRE:-$((4 * 1048576))}
ROUNDS=${SV_SLOW_ROUNDS:-1}
READERS=$(cd "$(dirname "$0")/../cli" && pwd)/slow_readers.py
NEW=$1
sv_it_init slowreaders
sv_net_up
sv_lan_up "$MIB"
sv_server_up

# readers LABEL BIN [ARGS...]: one client, the readers; sets GROWTH (KiB)
readers() {
	local label=$1 bin=$2 out drain=()
	shift 2
	sv_proxy_prepare "$bin"
	rm -f "$SV_ROOT/proxy.log" # else sv_proxy_start may see the last run's ready line
	sv_proxy_start "$@"
	sv_curl -o /dev/null --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/small.txt" ||
		sv_fail "$label: small.txt"
	[ "${SV_SLOW_DRAIN:-1}" = 0 ] && drain=(--no-drain)
	out=$(ip netns exec "$SV_NS_CLI" "$SV_PY" "$READERS" --socks "$SV_SOCKS" \
		--url-host "$SV_LAN_NAME" --url-port 80 --path /big.bin --n "$N" --pre "$PRE" \
		--pid "$SV_PROXY_PID" --sha256 "$SV_BIG_SHA256" --size $((MIB * 1048576)) \
		"${drain[@]}") || {
		sv_proxy_check_alive
		sv_fail "$label: not every body arrived intact: $out"
	}
	sv_log "$label: $N readers, $MIB MiB file, stopped after $PRE bytes: $out"
	GROWTH=$(sed -n 's/.*rss_growth_kib=\([0-9]*\).*/\1/p' <<<"$out")
	LOGTEXT=$(cat "$SV_PROXY_LOG")
	sv_stop_pid "$SV_PROXY_PID"
}

# one LABEL BIN [ARGS...]: a single download alone; prints MB/s
one() {
	local label=$1 bin=$2 t0 t1 c0 c1 got wnd
	shift 2
	sv_proxy_prepare "$bin"
	rm -f "$SV_ROOT/proxy.log"
	sv_proxy_start -v "$@"
	c0=$(sv_cpu_ticks "$SV_PROXY_PID")
	t0=$(sv_now)
	got=$(sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" | sha256sum | cut -d' ' -f1)
	t1=$(sv_now)
	c1=$(sv_cpu_ticks "$SV_PROXY_PID")
	[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "$label: single download: sha256 mismatch"
	# the largest receive window it reached (debug lines; older binaries have none)
	wnd=$(sed -n 's/.*receive window \([0-9]*\) KiB$/\1/p' "$SV_PROXY_LOG" | sort -n | tail -n1)
	sv_log "$label: one download of $MIB MiB: $(awk -v a="$t0" -v b="$t1" -v m="$MIB" \
		'BEGIN { printf "%.2fs, %.1f MB/s", b - a, m * 1.048576 / (b - a) }'), client CPU $((c1 - c0)) ticks, largest window ${wnd:-?} KiB"
	sv_stop_pid "$SV_PROXY_PID"
}

if [ -n "${SV_SLOW_OLD:-}" ]; then
	for r in $(seq 1 "$ROUNDS"); do
		one "old (round $r)" "$SV_SLOW_OLD"
		one "new (round $r)" "$NEW"
	done
	if [ "$N" -gt 0 ]; then
		readers "old binary" "$SV_SLOW_OLD"
		readers "new, default budget" "$NEW"
	fi
	exit 0
fi

grep -q __asan_init "$NEW" && sv_skip "AddressSanitizer build: RSS says nothing about our buffers"
one "new" "$NEW"
readers "budget 8M" "$NEW" --max-buffer-memory 8M
small=$GROWTH
grep -q 'reached --max-buffer-memory' <<<"$LOGTEXT" || sv_fail "no log line when the budget was reached"
# 8 MiB + N * 64 KiB of payload; pbufs cost ~1.3x their payload; plus slack
limit=$(((8192 + N * 64) * 13 / 10 + 8192))
[ "$small" -le "$limit" ] || sv_fail "budget 8M: RSS grew by $small KiB (limit $limit KiB)"
readers "budget 1G" "$NEW" --max-buffer-memory 1G
big=$GROWTH
[ "$big" -ge $((small * 2)) ] ||
	sv_fail "budget 1G: RSS grew by $big KiB, not clearly more than $small KiB at 8M: is the budget what limits it?"
sv_log "RSS growth with $N readers stopped after $PRE bytes: $small KiB (budget 8M), $big KiB (budget 1G)"
sv_log "PASS"
