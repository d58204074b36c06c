#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Part of bench/run_all.sh: sevpn-proxy through sevpn-testhub on loopback (no root, no
# official client, no SoftEther server CPU in the way): our own ceiling. The hub maps the
# LAN's 10.77.0.1:PORT to this machine's 127.0.0.1:PORT (libslirp), where the benchmark's
# web server, iperf3 server and an idle-connection listener run. Then the idle test:
# N concurrent idle SOCKS5 connections (default 10,000) through a fresh client, its RSS
# before and after.
# Usage: bench_hub.sh PATH/TO/sevpn-testhub PATH/TO/sevpn-proxy   (B_OUT etc. from run_all.sh)
set -eu
set -o pipefail
# shellcheck source=lib_bench.sh
. "$(dirname "$0")/lib_bench.sh"

HUB=${1:?usage: bench_hub.sh SEVPN_TESTHUB SEVPN_PROXY}
PROXY=${2:?usage: bench_hub.sh SEVPN_TESTHUB SEVPN_PROXY}
: "${B_OUT:?set by run_all.sh}"
RUNS=${SV_BENCH_RUNS:-5}
MIB=${SV_BENCH_MIB:-512}
B_IPERF_T=${SV_BENCH_IPERF_S:-5}
B_CONN_N=${SV_BENCH_CONN_N:-300}
B_RATE_N=${SV_BENCH_RATE_N:-500}
IDLE_N=${SV_BENCH_IDLE_N:-10000}
B_TOPO=hub
B_PY=$(command -v /usr/bin/python3 || command -v python3)
for t in iperf3 openssl curl; do
	command -v "$t" >/dev/null || { b_log "SKIP: $t not installed"; exit 77; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-benchhub.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$? i
	exec 7>&- 2>/dev/null || true
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in hub.log proxy.log idle-proxy.log fwd.log idle.err; do
			[ -s "$W/$f" ] && { echo "----- tail of $f -----" >&2; tail -n 20 "$W/$f" >&2; }
		done
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
fail() { b_log "FAIL: $*"; exit 1; }
alive() { kill -0 "$1" 2>/dev/null; }
free_port() { "$B_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # SECONDS WHAT CMD...
	local n=$(($1 * 10)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "timed out waiting for $what"
		sleep 0.1
	done
}

# Descriptors: the idle test needs ~N in the client, the hub, the listener and the opener.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
b_meta nofile "$(ulimit -n)"

FP=$("$(dirname "$0")/../tests/hub/mkcert.sh" "$W")
PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 \
	--user alice >"$W/hub.out" 2>"$W/hub.log" &
HUB_PID=$!
PIDS+=("$HUB_PID")
wait_for 10 "the hub" grep -q '^listening ' "$W/hub.out"
PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) sha256=.*/\1/p' "$W/hub.out")

mkdir -p "$W/www"
head -c "$((MIB * 1048576))" /dev/urandom >"$W/www/bench.bin"
echo small >"$W/www/small.txt"
B_FILE=$W/www/bench.bin
B_BYTES=$((MIB * 1048576))
HTTP_PORT=$(free_port)
"$B_PY" "$B_HERE/benchd.py" 127.0.0.1 "$HTTP_PORT" "$W/www" >"$W/benchd.log" 2>&1 &
PIDS+=($!)
IPERF_PORT=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >"$W/iperf3.log" 2>&1 &
PIDS+=($!)
HOLD_PORT=$(free_port)
"$B_PY" "$B_HERE/connbench.py" hold 127.0.0.1 "$HOLD_PORT" >"$W/hold.out" 2>"$W/hold.err" &
PIDS+=($!)
SOCKS_PORT=$(free_port)
FWD_PORT=$(free_port)
wait_for 10 "benchd" curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/small.txt"
wait_for 10 "the idle listener" grep -q listening "$W/hold.out"

B_RUN=()
B_URL=http://10.77.0.1:$HTTP_PORT
B_TARGET=10.77.0.1:$HTTP_PORT
B_IPERF=10.77.0.1:$IPERF_PORT
B_SOCKS=127.0.0.1:$SOCKS_PORT
B_FWD=127.0.0.1:$FWD_PORT
B_PID[server]=$HUB_PID
PROXY_ARGS=(--server "127.0.0.1:$PORT" --hub DEFAULT --user alice --pin "$FP" --socks "$B_SOCKS")

b_machine
b_meta params "runs $RUNS, curl file $MIB MiB, iperf3 $B_IPERF_T s, latency $B_CONN_N connections, rate $B_RATE_N / $((B_RATE_N * 2)), idle $IDLE_N"
b_meta niceness "all at $(nice) (sevpn-proxy, sevpn-testhub, socksfwd.py, curl, iperf3)"

# Start -> ready, a fresh process each time.
for ((i = 1; i <= RUNS; i++)); do
	SEVPN_PASSWORD=$PASS "$B_PY" "$B_HERE/startready.py" --timeout 30 -- "$PROXY" "${PROXY_ARGS[@]}" -v \
		>"$W/startready.json" || fail "startready.py failed"
	[ "$(b_json "$W/startready.json" 'd["ready_s"] is not None')" = True ] || {
		cat "$W/startready.json" >&2
		fail "sevpn-proxy was not ready"
	}
	b_record sevpn ready_s "$i" "$(b_json "$W/startready.json" '"%.3f" % d["ready_s"]')"
	b_record sevpn ready_session_s "$i" \
		"$(b_json "$W/startready.json" '"%.3f" % [t for t, l in d["lines"] if "session: established" in l][0]')"
	b_log "run $i start->ready: $(b_json "$W/startready.json" '"%.3f s (session %.3f s)" % (d["ready_s"], [t for t, l in d["lines"] if "session: established" in l][0])')"
done

start_proxy() { # LOG: the client in the background, until its ready line
	SEVPN_PASSWORD=$PASS "$PROXY" "${PROXY_ARGS[@]}" >/dev/null 2>"$W/$1" &
	PROXY_PID=$!
	PIDS+=("$PROXY_PID")
	wait_for 20 "sevpn-proxy's ready line" grep -q '^ready ' "$W/$1"
}
stop_proxy() {
	kill -TERM "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
}

start_proxy proxy.log
B_PID[sevpn]=$PROXY_PID
"$B_PY" "$B_HERE/socksfwd.py" "$B_FWD" "$B_SOCKS" "$B_IPERF" >"$W/fwd.out" 2>"$W/fwd.log" &
B_PID[fwd]=$!
PIDS+=("${B_PID[fwd]}")
wait_for 10 "socksfwd.py" grep -q listening "$W/fwd.out"
curl -sS -o /dev/null --socks5 "$B_SOCKS" "$B_URL/small.txt"

for ((i = 1; i <= RUNS; i++)); do
	b_round "$i" sevpn
	if ! alive "$PROXY_PID"; then
		rc=0
		wait "$PROXY_PID" || rc=$?
		b_meta crash "sevpn-proxy died during run $i (exit status $rc)"
		fail "sevpn-proxy died during run $i (exit status $rc)"
	fi
done
b_record sevpn rss_kb 1 "$(b_rss "$PROXY_PID" VmRSS)"
b_record sevpn hwm_kb 1 "$(b_rss "$PROXY_PID" VmHWM)"
b_log "RSS/HWM kB: sevpn $(b_rss "$PROXY_PID" VmRSS)/$(b_rss "$PROXY_PID" VmHWM)"
kill -TERM "${B_PID[fwd]}"
stop_proxy

# --- idle connections ------------------------------------------------------------------
# A fresh client; its RSS when ready, then with IDLE_N SOCKS5 connections to the idle
# listener open (each one a lwIP PCB, a libuv handle, a connection through the hub and
# libslirp to 127.0.0.1:HOLD_PORT), then after they close.
if [ "$IDLE_N" -gt 0 ]; then
	start_proxy idle-proxy.log
	sleep 1
	base=$(b_rss "$PROXY_PID" VmRSS)
	hub0=$(b_rss "$HUB_PID" VmRSS)
	mkfifo "$W/ctl"
	"$B_PY" "$B_HERE/connbench.py" idle --socks "$B_SOCKS" --target "10.77.0.1:$HOLD_PORT" -n "$IDLE_N" -c 64 \
		<"$W/ctl" >"$W/idle.out" 2>"$W/idle.err" &
	IDLE_PID=$!
	PIDS+=("$IDLE_PID")
	exec 7>"$W/ctl"
	wait_for 600 "the idle connections" test -s "$W/idle.out"
	sleep 2
	alive "$PROXY_PID" || fail "sevpn-proxy died with the idle connections"
	rss=$(b_rss "$PROXY_PID" VmRSS)
	hub1=$(b_rss "$HUB_PID" VmRSS)
	fds=$(find "/proc/$PROXY_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
	res=$(head -n1 "$W/idle.out")
	b_log "idle: $res"
	opened=$(printf '%s\n' "$res" | "$B_PY" -c 'import json,sys; print(json.load(sys.stdin)["open"])')
	b_record sevpn idle_n 1 "$IDLE_N"
	b_record sevpn idle_open 1 "$opened"
	b_record sevpn idle_open_s 1 "$(printf '%s\n' "$res" | "$B_PY" -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["seconds"])')"
	b_record sevpn idle_base_kb 1 "$base"
	b_record sevpn idle_rss_kb 1 "$rss"
	b_record sevpn idle_fds 1 "$fds"
	b_record server idle_hub_kb 1 "$((hub1 - hub0))"
	[ "$opened" -gt 0 ] && b_record sevpn idle_per_conn_kb 1 "$(awk -v a="$base" -v b="$rss" -v n="$opened" 'BEGIN { printf "%.2f", (b - a) / n }')"
	b_meta idle_errors "$(printf '%s\n' "$res" | "$B_PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["errors"]) if d["errors"] else "none")')"
	b_log "idle: RSS $base -> $rss kB with $opened connections ($fds descriptors); hub +$((hub1 - hub0)) kB"
	exec 7>&-
	wait "$IDLE_PID" 2>/dev/null || true
	sleep 3
	b_record sevpn idle_after_close_kb 1 "$(b_rss "$PROXY_PID" VmRSS)"
	b_log "idle: RSS after the connections closed: $(b_rss "$PROXY_PID" VmRSS) kB (HWM $(b_rss "$PROXY_PID" VmHWM))"
	stop_proxy
fi
b_meta load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
b_log "done"
