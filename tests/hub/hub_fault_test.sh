#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# What sevpn-proxy does against each of the test hub's fault modes (issue 3), one hub per
# case, as any user on loopback:
#   hello-random19     "not a SoftEther VPN Server", exit 1, no retry, within 3 s
#   hello-truncated    a bad PACK: a few attempts, then exit 1 (within 10 s)
#   welcome-duplicate  a bad PACK in the welcome: likewise
#   welcome-oversized  a welcome past the 1 MiB ceiling: likewise
#   block-3201         a block with wire length 3201 every 6 MB: the client drops the
#                      session, logs in again, the download completes intact
#   keepalive-513      a 513-byte keep-alive: likewise
#   login error 16     HUB_IS_BUSY is transient: no exit, the retry waits >= 22 s
#   slow TLS 2.5 s     the client waits for the handshake and gets ready
#   delay 40 ms + jitter 20 ms   the SOCKS5 connect takes >= 80 ms, a fetch is intact
#   loss 1 %           frames lost both ways, TCP recovers: intact
#   rate 2 MB/s        a 6 MiB fetch takes >= 2.5 s, intact
# usage: hub_fault_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hublib.sh
. "$HERE/hublib.sh"
hl_init hub_fault "${1:?usage: hub_fault_test.sh SEVPN_TESTHUB SEVPN_PROXY}" \
	"${2:?usage: hub_fault_test.sh SEVPN_TESTHUB SEVPN_PROXY}"
hl_http_start
hl_file one.bin 1
ONE_SHA=$HL_SHA256
hl_file mid.bin 6
MID_SHA=$HL_SHA256
hl_file big.bin 16
BIG_SHA=$HL_SHA256
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# --- malformed hello and welcome: the client gives up, exit status 1 ---------------------
# refused CASE MAX_S MESSAGE_ERE: the client exits 1 within MAX_S seconds saying MESSAGE.
refused() {
	local what=$1 max=$2 msg=$3
	hl_hub_start "hub-$what" --fault-malformed "$what"
	hl_proxy_run "proxy-$what" "$HL_PASS" --connect-timeout 3
	hl_hub_stop
	hl_log "$what: exit status $HL_RC after ${HL_ELAPSED}s: $(grep -E 'err' "$HL_RUN_LOG" | tail -n1)"
	[ "$HL_RC" -eq 1 ] || hl_fail "$what: exit status $HL_RC, expected 1"
	lt "$HL_ELAPSED" "$max" || hl_fail "$what: took ${HL_ELAPSED}s (limit ${max}s)"
	grep -qE "$msg" "$HL_RUN_LOG" || hl_fail "$what: no message matching '$msg'"
	grep -q '^ready ' "$HL_RUN_LOG" && hl_fail "$what: printed a ready line"
	grep -q "fault: $what" "$HL_HUB_LOG" || hl_fail "$what: the hub did not inject it"
	return 0
}
refused hello-random19 3 'not as a SoftEther VPN Server'
n=$(grep -c 'connecting to' "$HL_RUN_LOG")
[ "$n" -eq 1 ] || hl_fail "hello-random19: $n attempts, expected 1 (not a VPN server is final)"
refused hello-truncated 10 'bad PACK in the hello response'
refused welcome-duplicate 10 'bad PACK in the welcome response'
refused welcome-oversized 10 'giving up'

# --- malformed data phase: drop the session, log in again, the download survives ---------
for what in block-3201 keepalive-513; do
	hl_hub_start "hub-$what" --fault-malformed "$what" --fault-drop-after-bytes 6000000
	hl_proxy_start "proxy-$what"
	got=$(hl_fetch "$HL_URL/big.bin") || hl_fail "$what: fetch failed"
	[ "$got" = "$BIG_SHA" ] || hl_fail "$what: sha256 $got, expected $BIG_SHA"
	grep -q 'bad block message from the server' "$HL_PROXY_LOG" ||
		hl_fail "$what: the client did not reject the block"
	n=$(grep -c 'established on hub' "$HL_PROXY_LOG")
	[ "$n" -ge 2 ] || hl_fail "$what: $n sessions, expected a new login after the bad block"
	hl_log "$what: 16 MiB intact; the client rejected the block and logged in again ($n sessions)"
	hl_proxy_stop
	hl_hub_stop
done

# --- a transient refusal: no exit, a long wait before the next attempt --------------------
hl_hub_start hub-busy --fault-login-error 16
hl_proxy_args
SEVPN_PASSWORD=$HL_PASS "$HL_PROXY_BIN" "${HL_PROXY_ARGS[@]}" >/dev/null 2>"$HL_W/proxy-busy.log" &
pid=$!
HL_PIDS+=("$pid")
for _ in $(seq 50); do
	grep -q 'reconnecting in' "$HL_W/proxy-busy.log" && break
	sleep 0.1
done
line=$(grep -m1 'reconnecting in' "$HL_W/proxy-busy.log") || hl_fail "busy: no retry scheduled"
delay=$(printf '%s\n' "$line" | sed -n 's/.*reconnecting in \([0-9.]*\) s.*/\1/p')
hl_alive "$pid" || hl_fail "busy: the client exited on a transient error"
lt 20 "$delay" || hl_fail "busy: retry in ${delay}s, expected the long busy backoff"
grep -q 'error 16' "$HL_W/proxy-busy.log" || hl_fail "busy: error 16 not reported"
hl_log "login error 16 (hub busy): still running, next attempt in ${delay}s"
hl_stop_pid "$pid"
hl_hub_stop

# --- slow TLS handshake ----------------------------------------------------------------
hl_hub_start hub-slowtls --fault-slow-tls-ms 2500
t0=$(hl_now)
hl_proxy_start proxy-slowtls
el=$(hl_elapsed "$t0")
lt 2.4 "$el" || hl_fail "slow TLS: ready after ${el}s, before the hub read the ClientHello"
grep -q 'fault: slow TLS handshake' "$HL_HUB_LOG" || hl_fail "slow TLS: not injected"
n=$(grep -c 'connecting to' "$HL_PROXY_LOG")
[ "$n" -eq 1 ] || hl_fail "slow TLS: $n attempts, expected 1"
hl_log "slow TLS handshake (2.5 s): ready after ${el}s on the first attempt"
hl_proxy_stop
hl_hub_stop

# --- delay and jitter ---------------------------------------------------------------------
hl_hub_start hub-delay --fault-delay-ms 40 --fault-jitter-ms 20 --fault-seed 7
hl_proxy_start proxy-delay
t=$(curl -s -o /dev/null -w '%{time_connect} %{time_starttransfer}' --socks5-hostname "$HL_SOCKS" \
	"$HL_URL/small.txt") || hl_fail "delay: fetch failed"
read -r _ tfirst <<<"$t"
# the request and its answer each cross the hub once more after the handshake
lt 0.079 "$tfirst" || hl_fail "delay: first byte after ${tfirst}s, expected >= 2 x 40 ms"
got=$(hl_fetch "$HL_URL/one.bin") || hl_fail "delay: fetch failed"
[ "$got" = "$ONE_SHA" ] || hl_fail "delay: sha256 $got"
hl_log "delay 40 ms + jitter 20 ms: first byte of small.txt after ${tfirst}s, 1 MiB intact"
hl_proxy_stop
hl_hub_stop

# --- packet loss --------------------------------------------------------------------------
# (slirp's 4.4BSD TCP, the sender here, has no SACK: a loss costs it a timeout, so keep
# the rate and the file small: 1 % and 1 MiB take about 5 s)
hl_hub_start hub-loss --fault-loss 1 --fault-seed 11
hl_proxy_start proxy-loss
t0=$(hl_now)
got=$(hl_fetch "$HL_URL/one.bin") || hl_fail "loss: fetch failed"
[ "$got" = "$ONE_SHA" ] || hl_fail "loss: sha256 $got"
el=$(hl_elapsed "$t0")
hl_proxy_stop
hl_hub_stop
lost=$(sed -n 's/.*pipe up [0-9]* passed \([0-9]*\) lost.*down [0-9]* passed \([0-9]*\) lost.*/\1 \2/p' "$HL_HUB_LOG")
read -r lost_up lost_down <<<"$lost"
[ "$((${lost_up:-0} + ${lost_down:-0}))" -gt 0 ] || hl_fail "loss: the hub lost no frames ('$lost')"
hl_log "loss 1 %: 1 MiB intact in ${el}s; the hub lost $lost_up frames up, $lost_down down"

# --- bandwidth cap ------------------------------------------------------------------------
hl_hub_start hub-rate --fault-rate 2000000
hl_proxy_start proxy-rate
t0=$(hl_now)
got=$(hl_fetch "$HL_URL/mid.bin") || hl_fail "rate: fetch failed"
[ "$got" = "$MID_SHA" ] || hl_fail "rate: sha256 $got"
el=$(hl_elapsed "$t0")
lt 2.5 "$el" || hl_fail "rate: 6 MiB in ${el}s, faster than the 2 MB/s cap allows"
lt "$el" 15 || hl_fail "rate: 6 MiB in ${el}s, far below the cap"
hl_log "rate 2 MB/s: 6 MiB intact in ${el}s ($(awk -v e="$el" 'BEGIN { printf "%.2f", 6.291456 / e }') MB/s)"
hl_proxy_stop
hl_hub_stop
hl_log "PASS"
