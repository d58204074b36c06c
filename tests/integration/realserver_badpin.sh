#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# A pin that is not the server's certificate: sevpn-proxy must refuse the server before
# sending credentials, exit with status 3 (TLS/certificate verification failure) within 5 s
# and name the pin/certificate; the server must not see a login attempt.
# Usage: realserver_badpin.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init badpin
sv_net_up
sv_lan_up 0
sv_server_up
sv_proxy_prepare "$1"
real_pin=$SV_PIN
SV_PIN=$(printf 'not the server certificate' | sha256sum | cut -d' ' -f1)
sv_proxy_args

log=$SV_ROOT/proxy-badpin.log
t0=$(sv_now)
(sv_proxy_exec "$SV_PASS" "${SV_PROXY_ARGS[@]}") 2>"$log" >/dev/null &
pid=$!
SV_PIDS+=("$pid")
sv_wait_gone "$pid" 10 || sv_fail "sevpn-proxy still running 10 s after a certificate mismatch"
wait "$pid" && rc=0 || rc=$?
t1=$(sv_now)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
sv_log "exit status $rc after ${elapsed}s; stderr:"
sed 's/^/    /' "$log" >&2
awk -v e="$elapsed" 'BEGIN { exit !(e <= 5.0) }' || sv_fail "took ${elapsed}s (> 5 s)"
[ "$rc" -eq 3 ] || sv_fail "exit status $rc, expected 3 (certificate verification failure)"
grep -qiE 'pin|certificate' "$log" || sv_fail "no message naming the pin or certificate"
grep -q '^ready ' "$log" && sv_fail "printed a ready line"
# Credentials never reached the server: no login attempt for the user in its log.
if grep -h "$SV_USER" "$SV_ROOT"/srv/log/security_log/*/*.log "$SV_ROOT"/srv/log/server_log/*.log 2>/dev/null |
	grep -qiE 'password|auth|log(ged)? ?in'; then
	sv_fail "the server logged a login attempt for $SV_USER despite the wrong pin"
fi
sv_log "(real pin was $real_pin)"
sv_log "PASS"
