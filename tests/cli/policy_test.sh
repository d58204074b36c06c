#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# The hub's AutoDisconnect policy is enforced by the client (spec 8): with the test hub's
# welcome saying policy:AutoDisconnect=2, the session must end after about 2 s with a
# message naming the policy, exit 1, and no reconnect (as the official client does).
# usage: policy_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init policy "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"

hl_hub_start hub --policy-auto-disconnect 2
t0=$(hl_now)
hl_proxy_start client --no-config
grep -q "policy ends this session after 2 s" "$HL_PROXY_LOG" ||
	hl_fail "the client did not announce the AutoDisconnect policy"
n=100
while [ "$n" -gt 0 ] && hl_alive "$HL_PROXY_PID"; do
	sleep 0.1
	n=$((n - 1))
done
hl_alive "$HL_PROXY_PID" && hl_fail "still running 10 s into a 2 s AutoDisconnect session"
wait "$HL_PROXY_PID" && rc=0 || rc=$?
took=$(hl_elapsed "$t0")
[ "$rc" -eq 1 ] || hl_fail "exit status $rc after AutoDisconnect, expected 1"
awk -v e="$took" 'BEGIN { exit !(e >= 2.0 && e < 6.0) }' || hl_fail "ended after ${took}s, expected ~2 s"
grep -q "AutoDisconnect" "$HL_PROXY_LOG" || hl_fail "no message naming the policy"
grep -qE "reconnecting (now|in)" "$HL_PROXY_LOG" && hl_fail "the client reconnected after AutoDisconnect"
n=$(grep -c "established on hub" "$HL_PROXY_LOG")
[ "$n" -eq 1 ] || hl_fail "$n sessions, expected 1"
hl_log "AutoDisconnect=2: session ended after ${took}s, exit 1, no reconnect"
hl_log "PASS"
