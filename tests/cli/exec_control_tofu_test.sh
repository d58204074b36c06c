#!/bin/bash
# Scripts and CI against the project's test hub, without root:
#  - exec mode: `sevpn-proxy ... -- COMMAND` runs COMMAND once ready with ALL_PROXY set,
#    exits with its status (0 and 7 tried), without SEVPN_PASSWORD in its environment;
#    a tunnel that cannot come up exits 125 and never runs the command;
#  - --ready-file gets JSON with the lease; --control serves /status, /metrics, /healthz;
#  - trust on first use: the first login records the certificate in the known-servers
#    file, the next one verifies against it, a changed certificate is refused (exit 3)
#    with a message naming the file.
# usage: exec_control_tofu_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
set -eu
HUB=${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
PROXY=${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}
MKCERT=$(cd "$(dirname "$0")/../hub" && pwd)/mkcert.sh
PY=$(command -v python3) || { echo "SKIP: python3 not installed"; exit 77; }
for t in openssl curl; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-cli.XXXXXX")
PIDS=()
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	rc=$?
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	if [ "$rc" -ne 0 ]; then
		for f in "$W"/*.log; do
			[ -s "$f" ] || continue
			echo "----- tail of $f -----" >&2
			tail -n 25 "$f" >&2
		done
	fi
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
log() { printf '[cli %3ss] %s\n' "$SECONDS" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
alive() { kill -0 "$1" 2>/dev/null; }

PASS="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
start_hub() { # CERTDIR -> HUB_PID, PORT
	SEVPN_TESTHUB_PASSWORD=$PASS "$HUB" --cert "$1/hub.crt" --key "$1/hub.key" \
		--listen 127.0.0.1:0 --user alice --dns-name intranet.test=10.77.0.1 \
		>"$1/hub.out" 2>"$W/hub-$(basename "$1").log" &
	HUB_PID=$!
	PIDS+=("$HUB_PID")
	for _ in $(seq 100); do
		grep -qs '^listening ' "$1/hub.out" && break
		alive "$HUB_PID" || fail "hub exited"
		sleep 0.1
	done
	PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) sha256=.*/\1/p' "$1/hub.out")
	[ -n "$PORT" ] || fail "hub printed no listening line"
}
mkdir -p "$W/a" "$W/b" "$W/www"
FP=$("$MKCERT" "$W/a")
"$MKCERT" "$W/b" >/dev/null
start_hub "$W/a"
echo "hello through exec mode" >"$W/www/hello.txt"
HTTP_PORT=$(free_port)
(cd "$W/www" && exec "$PY" -m http.server --bind 127.0.0.1 "$HTTP_PORT") >"$W/httpd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done

common=(--server "127.0.0.1:$PORT" --hub DEFAULT --user alice --connect-timeout 5 --no-config)

# --- exec mode: the command's status, its environment, the ready file, the control port
SOCKS=$(free_port)
CTL=$(free_port)
cat >"$W/cmd.sh" <<CMD
#!/bin/bash
set -e
env >"$W/child.env"
curl -sS --max-time 10 "http://intranet.test:$HTTP_PORT/hello.txt" >"$W/got.txt"
curl -sS --max-time 5 "http://127.0.0.1:$CTL/status" >"$W/status.json"
curl -sS --max-time 5 "http://127.0.0.1:$CTL/metrics" >"$W/metrics.txt"
curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CTL/healthz" >"$W/healthz"
"$PROXY" status --control "127.0.0.1:$CTL" >"$W/status.txt"
exit "\${1:-0}"
CMD
chmod +x "$W/cmd.sh"
rc=0
SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --pin "$FP" --socks "127.0.0.1:$SOCKS" \
	--ready-file "$W/ready.json" --control "127.0.0.1:$CTL" -- "$W/cmd.sh" 0 2>"$W/exec.log" || rc=$?
[ "$rc" -eq 0 ] || fail "exec mode exited $rc for a command that succeeded"
[ "$(cat "$W/got.txt")" = "hello through exec mode" ] || fail "the command's curl did not go through the proxy"
grep -q "^ALL_PROXY=socks5h://127.0.0.1:$SOCKS\$" "$W/child.env" || fail "ALL_PROXY not set for the command"
grep -q "^https_proxy=socks5h://127.0.0.1:$SOCKS\$" "$W/child.env" || fail "https_proxy not set for the command"
grep -q '^SEVPN_PASSWORD=' "$W/child.env" && fail "SEVPN_PASSWORD reached the command"
grep -qF "$PASS" "$W/child.env" && fail "the password reached the command's environment"
grep -q '"ip":"10\.77\.0\.1[0-9][0-9]"' "$W/ready.json" || fail "ready file: $(cat "$W/ready.json")"
grep -q "\"socks5\":\\[\"127.0.0.1:$SOCKS\"\\]" "$W/ready.json" || fail "ready file lacks the listener"
grep -q '"state":"established"' "$W/status.json" || fail "status: $(cat "$W/status.json")"
grep -q "\"server_cert_sha256\":\"$FP\"" "$W/status.json" || fail "status lacks the cert fingerprint"
grep -q '"session_name":"SID-ALICE-' "$W/status.json" || fail "status lacks the session name"
grep -q '^sevpn_up 1$' "$W/metrics.txt" || fail "metrics: sevpn_up is not 1"
[ "$(cat "$W/healthz")" = 200 ] || fail "healthz answered $(cat "$W/healthz")"
grep -q '^State: *established$' "$W/status.txt" || fail "sevpn-proxy status: $(cat "$W/status.txt")"
grep -q '^Address: *10\.77\.0\.1[0-9][0-9]/24' "$W/status.txt" || fail "status screen lacks the address"
log "exec mode ok: command ran through the proxy, ready file, /status, /metrics, /healthz, sevpn-proxy status"

rc=0
SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --pin "$FP" --socks "127.0.0.1:$(free_port)" \
	-- "$W/cmd.sh" 7 2>"$W/exec7.log" || rc=$?
[ "$rc" -eq 7 ] || fail "exec mode exited $rc, expected the command's 7"

rm -f "$W/got.txt"
rc=0
SEVPN_PASSWORD=wrong timeout 60 "$PROXY" "${common[@]}" --pin "$FP" --socks "127.0.0.1:$(free_port)" \
	-- "$W/cmd.sh" 0 2>"$W/exec-bad.log" || rc=$?
[ "$rc" -eq 125 ] || fail "exec mode with a refused login exited $rc, expected 125"
[ -e "$W/got.txt" ] && fail "the command ran although the tunnel never came up"
log "exec mode statuses ok: 0, 7 (the command's), 125 (no tunnel)"

# --- trust on first use
KNOWN=$W/known_servers
run_tofu() { # LOG EXTRA... -> rc
	local out=$1 rc=0
	shift
	SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --known-servers "$KNOWN" "$@" \
		--socks "127.0.0.1:$(free_port)" -- true 2>"$W/$out" || rc=$?
	return "$rc"
}
rc=0; run_tofu tofu-none.log || rc=$?
[ "$rc" -eq 125 ] || fail "an unknown self-signed server without --trust-on-first-use: exit $rc"
grep -q -- "--pin" "$W/tofu-none.log" || fail "the refusal does not suggest --pin"
rc=0; run_tofu tofu-first.log --trust-on-first-use || rc=$?
[ "$rc" -eq 0 ] || fail "first use with --trust-on-first-use: exit $rc"
grep -q "$FP" "$KNOWN" || fail "known_servers does not hold the fingerprint"
rc=0; run_tofu tofu-again.log || rc=$?
[ "$rc" -eq 0 ] || fail "second connection to a known server: exit $rc"
# same port, another certificate: a changed server
kill -TERM "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true
OLD_PORT=$PORT
cp "$W/b/hub.crt" "$W/a/hub.crt"; cp "$W/b/hub.key" "$W/a/hub.key"
sed -i "s/127.0.0.1:$OLD_PORT /127.0.0.1:PORTX /" "$KNOWN" 2>/dev/null || true
start_hub "$W/a"
sed -i "s/127.0.0.1:PORTX /127.0.0.1:$PORT /; s/127.0.0.1:$OLD_PORT /127.0.0.1:$PORT /" "$KNOWN"
common=(--server "127.0.0.1:$PORT" --hub DEFAULT --user alice --connect-timeout 5 --no-config)
rc=0
SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --known-servers "$KNOWN" \
	--socks "127.0.0.1:$(free_port)" 2>"$W/tofu-changed.log" || rc=$?
[ "$rc" -eq 3 ] || fail "a changed certificate for a known server: exit $rc, expected 3"
grep -q "$KNOWN" "$W/tofu-changed.log" || fail "the mismatch message does not name the known-servers file"
log "trust on first use ok: refused unknown, recorded, verified, refused a changed certificate"
log "PASS"
