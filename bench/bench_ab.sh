#!/bin/bash
# A/B comparison of sevpn-proxy binaries through the test hub (no root): one
# sevpn-testhub, one client per binary (each with its own SOCKS port), curl downloads
# (or uploads) of a random file through each in turn, the order flipping every run.
# Client CPU is read from /proc/PID/task/*/schedstat (nanoseconds, all threads), so
# short transfers are measured precisely; the hub's the same way.
#
# Usage: bench/bench_ab.sh SEVPN_TESTHUB RUNS MIB BINARY_A [BINARY_B ...]
#   SV_AB_UP=1           upload (curl -T, PUT to benchd.py) instead of download
#   SV_AB_KIB=N          a file of N KiB instead of MIB MiB (short transfers: slow start)
#   SV_AB_WRAP="cmd ..." run each client under a wrapper (e.g. valgrind --tool=callgrind)
# Prints one line per transfer (index MB/s client-CPU-s/GB hub-CPU-s/GB), then the
# medians per binary and, for two binaries, the median of the paired ratios B/A.
set -eu
set -o pipefail
HUB=${1:?usage: bench_ab.sh SEVPN_TESTHUB RUNS MIB BINARY...}
RUNS=${2:?runs}
MIB=${3:?MiB}
shift 3
BINS=("$@")
[ ${#BINS[@]} -ge 1 ] || { echo "bench_ab.sh: no binary given" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-ab.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # FILE PATTERN
	local n=300
	until grep -q "$2" "$1" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || { echo "bench_ab.sh: timed out waiting for '$2' in $1" >&2; exit 1; }
		sleep 0.1
	done
}
cpu_ms() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s / 1e6 }'; }

FP=$("$HERE/../tests/hub/mkcert.sh" "$W")
PASS=pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" \
	--listen 127.0.0.1:0 --user alice >"$W/hub.out" 2>"$W/hub.log" &
HUB_PID=$!
PIDS+=("$HUB_PID")
wait_for "$W/hub.out" '^listening '
PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) sha256=.*/\1/p' "$W/hub.out")
mkdir -p "$W/www"
BYTES=$((MIB * 1048576))
[ -n "${SV_AB_KIB:-}" ] && BYTES=$((SV_AB_KIB * 1024))
head -c "$BYTES" /dev/urandom >"$W/www/bench.bin"
HP=$(free_port)
python3 "$HERE/benchd.py" 127.0.0.1 "$HP" "$W/www" >/dev/null 2>&1 &
PIDS+=($!)

SP=() PP=()
for i in "${!BINS[@]}"; do
	SP[i]=$(free_port)
	# shellcheck disable=SC2086 # SV_AB_WRAP is a command line
	SEVPN_PASSWORD=$PASS ${SV_AB_WRAP:-} "${BINS[i]}" --server "127.0.0.1:$PORT" --hub DEFAULT \
		--user alice --pin "$FP" --socks "127.0.0.1:${SP[i]}" >/dev/null 2>"$W/p$i.log" &
	PP[i]=$!
	PIDS+=("${PP[i]}")
done
for i in "${!BINS[@]}"; do
	wait_for "$W/p$i.log" '^ready '
	echo "client $i: ${BINS[i]} (pid ${PP[i]})" >&2
done

for ((r = 1; r <= RUNS; r++)); do
	order=("${!BINS[@]}")
	[ $((r % 2)) = 0 ] && mapfile -t order < <(printf '%s\n' "${!BINS[@]}" | tac)
	for i in "${order[@]}"; do
		c0=$(cpu_ms "${PP[i]}") h0=$(cpu_ms "$HUB_PID")
		if [ -n "${SV_AB_UP:-}" ]; then
			out=$(curl -sS -o /dev/null -T "$W/www/bench.bin" -H 'Expect:' \
				-w '%{size_upload} %{time_total}' --socks5 "127.0.0.1:${SP[i]}" \
				"http://10.77.0.1:$HP/up")
		else
			out=$(curl -sS -o /dev/null -w '%{size_download} %{time_total}' \
				--socks5 "127.0.0.1:${SP[i]}" "http://10.77.0.1:$HP/bench.bin")
		fi
		c1=$(cpu_ms "${PP[i]}") h1=$(cpu_ms "$HUB_PID")
		read -r bytes secs <<<"$out"
		[ "$bytes" = "$BYTES" ] || echo "client $i: moved $bytes bytes only" >&2
		awk -v i="$i" -v b="$bytes" -v t="$secs" -v c=$((c1 - c0)) -v h=$((h1 - h0)) \
			'BEGIN { printf "%s %.1f %.3f %.3f\n", i, b / t / 1e6, c / 1e3 / (b / 1e9), h / 1e3 / (b / 1e9) }'
	done
done | tee "$W/res"

echo "medians: index MB/s client-CPU-s/GB hub-CPU-s/GB binary"
python3 - "$W/res" "${BINS[@]}" <<'EOF'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
bins = sys.argv[2:]
by = {i: [list(map(float, r[1:])) for r in rows if r[0] == str(i)] for i in range(len(bins))}
for i, b in enumerate(bins):
    if by[i]:
        print(i, *("%.3f" % st.median(c) for c in zip(*by[i])), b)
if len(bins) == 2 and by[0] and by[1]:
    # short transfers can take less CPU than the clock's resolution: such pairs are
    # left out of the CPU ratio
    cpu = [y[1] / x[1] for x, y in zip(by[0], by[1]) if x[1] > 0]
    mbs = [y[0] / x[0] for x, y in zip(by[0], by[1])]
    print("paired 1/0: client CPU %s, MB/s %.3f" %
          ("%.3f (min %.3f, max %.3f)" % (st.median(cpu), min(cpu), max(cpu)) if cpu
           else "n/a", st.median(mbs)))
EOF
