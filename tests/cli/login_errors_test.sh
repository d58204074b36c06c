#!/bin/bash
# Every permanent SoftEther login refusal gets its own plain-words message, status 2, no
# retry: the test hub refuses logins with a chosen code (--fault-login-error N) and the
# client's message must name the code, its name and the sentence core/err.c has for it.
# usage: login_errors_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
set -eu
HUB=${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
PROXY=${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
MKCERT=$(cd "$(dirname "$0")/../hub" && pwd)/mkcert.sh
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-errs.XXXXXX")
HUB_PID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	rc=$?
	[ -n "$HUB_PID" ] && { kill -TERM "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; }
	[ "$rc" -ne 0 ] && tail -n 20 "$W"/*.log >&2 2>/dev/null
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
log() { printf '[errors %3ss] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
FP=$("$MKCERT" "$W")
PASS=pw-errors

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
	read -r code name frag <<<"$c"
	SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$W/hub.crt" --key "$W/hub.key" --listen 127.0.0.1:0 \
		--user alice --fault-login-error "$code" >"$W/hub.out" 2>"$W/hub.log" &
	HUB_PID=$!
	for _ in $(seq 100); do grep -qs '^listening ' "$W/hub.out" && break; sleep 0.05; done
	PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$W/hub.out")
	[ -n "$PORT" ] || fail "hub did not start"
	rc=0
	start=$SECONDS
	SEVPN_PASSWORD=$PASS timeout 20 "$PROXY" --no-config --server "127.0.0.1:$PORT" --user alice \
		--pin "$FP" --socks 127.0.0.1:0 2>"$W/client.log" || rc=$?
	[ "$rc" -eq 2 ] || fail "error $code: exit $rc, expected 2"
	[ $((SECONDS - start)) -le 5 ] || fail "error $code: took more than 5 s"
	grep -q "SoftEther error $code, $name" "$W/client.log" || fail "error $code: message lacks the code and name"
	if [ -n "${frag:-}" ]; then
		grep -qF "$frag" "$W/client.log" || fail "error $code: message lacks '$frag'"
	fi
	grep -q "reconnecting" "$W/client.log" && fail "error $code was retried"
	kill -TERM "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true
	HUB_PID=
	frag=
done
log "${#cases[@]} permanent refusals: each exit 2 at once, no retry, with its own words"
log "PASS"
