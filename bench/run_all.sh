#!/bin/bash
# The whole benchmark in one command (issue 7): sevpn-proxy against Debian's official
# SoftEther VPN Client through a real softether-vpnserver (root: network namespaces, the
# official client's TAP NIC), then sevpn-proxy alone through sevpn-testhub on loopback
# (no root) for our own ceiling and the 10,000 idle connections. Prints a markdown report
# and writes it with the raw numbers and a PNG chart to the output directory.
#
# Usage: bench/run_all.sh PATH/TO/sevpn-proxy [PATH/TO/sevpn-testhub]
#   (the test hub defaults to tests/hub/sevpn-testhub next to the client in the build dir)
# Environment:
#   SV_BENCH_OUT=DIR       output directory (default: a new /tmp/sevpn-bench.XXXXXX)
#   SV_BENCH_QUICK=1       a quick run (~70 s): 1 run, 128 MiB, 2 s iperf3, 100
#                          connections, 2,000 idle connections; each can still be set:
#   SV_BENCH_RUNS=5        runs per client (medians of these)
#   SV_BENCH_MIB=512       size of the file downloaded and uploaded with curl
#   SV_BENCH_IPERF_S=5     seconds per iperf3 test
#   SV_BENCH_CONN_N=300    connections for the latency test (sequential)
#   SV_BENCH_RATE_N=500    connections for the setup rate (sequential; 2x for 16 threads)
#   SV_BENCH_IDLE_N=10000  idle connections through the test hub (0: skip)
#   SV_BENCH_SKIP=real|hub skip one part
# Needs: scripts/install-deps.sh --integration (iperf3, gnuplot-nox, SoftEther, busybox...).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PROXY=$(readlink -f "${1:?usage: run_all.sh PATH/TO/sevpn-proxy [PATH/TO/sevpn-testhub]}")
HUB=${2:-$(dirname "$PROXY")/tests/hub/sevpn-testhub}
[ -x "$PROXY" ] || { echo "run_all.sh: $PROXY is not executable" >&2; exit 2; }
[ -x "$HUB" ] && HUB=$(readlink -f "$HUB")

if [ "${SV_BENCH_QUICK:-0}" = 1 ]; then
	: "${SV_BENCH_RUNS:=1}" "${SV_BENCH_MIB:=128}" "${SV_BENCH_IPERF_S:=2}"
	: "${SV_BENCH_CONN_N:=100}" "${SV_BENCH_RATE_N:=100}" "${SV_BENCH_IDLE_N:=2000}"
fi
export SV_BENCH_RUNS SV_BENCH_MIB SV_BENCH_IPERF_S SV_BENCH_CONN_N SV_BENCH_RATE_N SV_BENCH_IDLE_N
B_OUT=${SV_BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/sevpn-bench.XXXXXX")}
mkdir -p "$B_OUT"
export B_OUT
: >"$B_OUT/raw.tsv"
: >"$B_OUT/meta.tsv"
{
	printf 'all\tcommand\t%s\n' "bench/run_all.sh $* (SV_BENCH_RUNS=${SV_BENCH_RUNS:-5} SV_BENCH_MIB=${SV_BENCH_MIB:-512} SV_BENCH_IPERF_S=${SV_BENCH_IPERF_S:-5} SV_BENCH_IDLE_N=${SV_BENCH_IDLE_N:-10000})"
	printf 'all\tbinary\t%s\n' "$PROXY ($("$PROXY" --version 2>&1 | head -n1))"
} >>"$B_OUT/meta.tsv"
start=$SECONDS

status=0
if [ "${SV_BENCH_SKIP:-}" != real ]; then
	rc=0
	"$HERE/bench_real.sh" "$PROXY" || rc=$?
	case $rc in
	0) ;;
	77) printf 'real\tskipped\t%s\n' "needs root, SoftEther, iperf3 and busybox (exit 77)" >>"$B_OUT/meta.tsv" ;;
	*) printf 'real\tfailed\t%s\n' "exit status $rc" >>"$B_OUT/meta.tsv"; status=1 ;;
	esac
fi
if [ "${SV_BENCH_SKIP:-}" != hub ]; then
	if [ -x "$HUB" ]; then
		rc=0
		"$HERE/bench_hub.sh" "$HUB" "$PROXY" || rc=$?
		[ "$rc" -eq 0 ] || { printf 'hub\tfailed\t%s\n' "exit status $rc" >>"$B_OUT/meta.tsv"; status=1; }
	else
		printf 'hub\tskipped\t%s\n' "no sevpn-testhub at $HUB" >>"$B_OUT/meta.tsv"
	fi
fi
printf 'all\tduration\t%s\n' "$((SECONDS - start)) s" >>"$B_OUT/meta.tsv"

py=$(command -v /usr/bin/python3 || command -v python3)
"$py" "$HERE/report.py" "$B_OUT"
echo
echo "raw numbers, report.md and results.png in $B_OUT" >&2
exit "$status"
