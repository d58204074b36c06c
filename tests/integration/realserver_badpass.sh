#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A wrong password: the real server refuses the login; sevpn-proxy must exit with status 2
# (authentication/configuration refused by the server) within 5 s, saying why.
# Usage: realserver_badpass.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init badpass
sv_net_up
sv_lan_up 0
sv_server_up
sv_proxy_prepare "$1"
sv_proxy_args

log=$SV_ROOT/proxy-badpass.log
t0=$(sv_now)
(sv_proxy_exec "wrong-$SV_PASS" "${SV_PROXY_ARGS[@]}") 2>"$log" >/dev/null &
pid=$!
SV_PIDS+=("$pid")
sv_wait_gone "$pid" 10 || sv_fail "sevpn-proxy still running 10 s after a wrong password"
wait "$pid" && rc=0 || rc=$?
t1=$(sv_now)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
sv_log "exit status $rc after ${elapsed}s; stderr:"
sed 's/^/    /' "$log" >&2
awk -v e="$elapsed" 'BEGIN { exit !(e <= 5.0) }' || sv_fail "took ${elapsed}s (> 5 s)"
[ "$rc" -eq 2 ] || sv_fail "exit status $rc, expected 2 (refused by the server)"
grep -qi 'password' "$log" || sv_fail "no message mentioning the password"
grep -q '^ready ' "$log" && sv_fail "printed a ready line"
grep -qF "$SV_PASS" "$log" && sv_fail "the password appears in its output"
sv_log "PASS"
