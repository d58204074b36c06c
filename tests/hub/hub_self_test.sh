#!/bin/bash
# Self-test of sevpn-testhub with a scripted Python client (hub_probe.py): TLS and pin,
# signature and hello, login errors, welcome, keep-alive, DHCP through libslirp with the
# hub's DNS address, DNS from the hub's table, the outbound filter, the idle timeout,
# additional connections (spec 12), and the drop, login-error and kill-session faults.
# Runs as any user, loopback only.   usage: hub_self_test.sh PATH/TO/sevpn-testhub
set -eu
HUB=${1:?usage: hub_self_test.sh SEVPN_TESTHUB}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v python3) || { echo "SKIP: python3 not installed"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-hubself.XXXXXX")
HUB_PID=
EXTRA_PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	rc=$?
	for p in "${EXTRA_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$HUB_PID" ]; then
		kill -TERM "$HUB_PID" 2>/dev/null || true
		wait "$HUB_PID" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "----- hub log -----" >&2
		tail -n 40 "$W/hub.log" >&2 || true
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
log() { printf '[hub_self %3ss] %s\n' "$SECONDS" "$*" >&2; }

FP=$("$HERE/mkcert.sh" "$W")
export HUB_TIMEOUT_MS=3000
"$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 \
	--user alice:right --anonymous guest --timeout "$HUB_TIMEOUT_MS" -v \
	>"$W/hub.out" 2>"$W/hub.log" &
HUB_PID=$!
for _ in $(seq 100); do
	grep -qs '^listening ' "$W/hub.out" && break
	kill -0 "$HUB_PID" 2>/dev/null || { log "FAIL: hub exited"; exit 1; }
	sleep 0.1
done
line=$(head -n1 "$W/hub.out")
log "$line"
PORT=$(printf '%s\n' "$line" | sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) sha256=.*/\1/p')
[ -n "$PORT" ] || { log "FAIL: no listening line"; exit 1; }
[ "$line" = "listening 127.0.0.1:$PORT sha256=$FP" ] || { log "FAIL: fingerprint differs from mkcert.sh's $FP"; exit 1; }

for sc in handshake logins data idle additional; do
	log "scenario $sc"
	timeout 30 "$PY" "$HERE/hub_probe.py" 127.0.0.1 "$PORT" "$FP" "$sc" >&2
done

# Fault injection: a second hub that resets sessions 0.5 s after the welcome, and a
# third that refuses every login with error 20.
start_hub() { # NAME ARGS...: starts one more hub, sets HUB_PORT (not in a subshell:
	# the PID must reach EXTRA_PIDS for the cleanup)
	local name=$1
	shift
	"$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 --anonymous guest \
		--user alice:right "$@" >"$W/$name.out" 2>"$W/$name.log" &
	EXTRA_PIDS+=($!)
	for _ in $(seq 100); do
		grep -qs '^listening ' "$W/$name.out" && break
		sleep 0.1
	done
	HUB_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$W/$name.out")
	[ -n "$HUB_PORT" ] || { log "FAIL: hub $name did not start"; exit 1; }
}
start_hub drop --fault-drop-after-ms 500 --fault-drop-rst
log "scenario fault_drop (hub on $HUB_PORT: --fault-drop-after-ms 500 --fault-drop-rst)"
timeout 30 "$PY" "$HERE/hub_probe.py" 127.0.0.1 "$HUB_PORT" "$FP" fault_drop >&2
grep -q 'fault: drop after time: closing (RST)' "$W/drop.log" || { log "FAIL: no RST drop in the log"; exit 1; }
start_hub refuse --fault-login-error 20
log "scenario fault_drop (hub on $HUB_PORT: --fault-login-error 20)"
HUB_FAULT_LOGIN=20 timeout 30 "$PY" "$HERE/hub_probe.py" 127.0.0.1 "$HUB_PORT" "$FP" fault_drop >&2

start_hub kill --fault-kill-session
log "scenario kill_session (hub on $HUB_PORT: --fault-kill-session)"
timeout 30 "$PY" "$HERE/hub_probe.py" 127.0.0.1 "$HUB_PORT" "$FP" kill_session >&2
grep -q 'ended: a connection ended without close_notify' "$W/kill.log" || { log "FAIL: no session kill in the log"; exit 1; }
grep -q 'additional connection 2 of session SID-ALICE-' "$W/hub.log" || { log "FAIL: no additional connection in the log"; exit 1; }

# The SYN to 192.0.2.1 in the data scenario never reached libslirp.
grep -q 'filter dropped a 54-byte frame' "$W/hub.log" || { log "FAIL: the filter logged no dropped SYN"; exit 1; }
log "filter dropped the SYN to 192.0.2.1"
# ... nor the fragments of a UDP datagram to 192.0.2.1 and of a DNS query to the gateway
for n in 1034 79 1042 57; do
	grep -q "filter dropped a $n-byte frame" "$W/hub.log" || { log "FAIL: the filter logged no dropped $n-byte fragment"; exit 1; }
done
log "filter dropped the fragments to 192.0.2.1 and of DNS to the gateway"
kill -0 "$HUB_PID" || { log "FAIL: hub died"; exit 1; }
kill -TERM "$HUB_PID"
for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$HUB_PID" 2>/dev/null; then log "FAIL: hub did not stop on SIGTERM"; exit 1; fi
wait "$HUB_PID" && rc=0 || rc=$?
HUB_PID=
[ "$rc" -eq 0 ] || { log "FAIL: hub exit status $rc"; exit 1; }
log "PASS"
