#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Every permanent SoftEther login refusal gets its own plain-words message, status 2, no
# retry: the test hub refuses logins with a chosen code (--fault-login-error N) and the
# client's message must name the code, its name and the sentence core/err.c has for it.
# usage: login_errors_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init errors "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"

# code NAME and a fragment of its sentence (core/err.c)
cases=(
	"7 AUTHTYPE_NOT_SUPPORTED authentication type"
	"8 HUB_NOT_FOUND check --hub"
	"9 AUTH_FAILED check --user and the password"
	"12 ACCESS_DENIED denied by the hub's policy"
	"33 NOT_SUPPORTED"
	"51 NULL_PASSWORD_LOCAL_ONLY"
	"87 VERSION_INVALID"
	"105 SERVER_CANT_ACCEPT"
	"109 IP_ADDRESS_DENIED access list"
	"127 CLIENT_ID_REQUIRED"
)
for c in "${cases[@]}"; do
	frag=
	read -r code name frag <<<"$c"
	hl_hub_start "hub-$code" --fault-login-error "$code"
	hl_proxy_run "client-$code" "$HL_PASS" --no-config
	[ "$HL_RC" -eq 2 ] || hl_fail "error $code: exit $HL_RC, expected 2"
	awk -v e="$HL_ELAPSED" 'BEGIN { exit !(e <= 5.0) }' || hl_fail "error $code: took ${HL_ELAPSED}s"
	grep -q "SoftEther error $code, $name" "$HL_RUN_LOG" || hl_fail "error $code: message lacks the code and name"
	if [ -n "$frag" ]; then
		grep -qF "$frag" "$HL_RUN_LOG" || hl_fail "error $code: message lacks '$frag'"
	fi
	grep -qE "reconnecting (now|in)" "$HL_RUN_LOG" && hl_fail "error $code was retried"
	hl_hub_stop
done
hl_log "${#cases[@]} permanent refusals: each exit 2 at once, no retry, with its own words"
hl_log "PASS"
