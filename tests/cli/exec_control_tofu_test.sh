#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Scripts and CI against the project's test hub, without root:
#  - exec mode: `sevpn-proxy ... -- COMMAND` runs COMMAND once ready with ALL_PROXY set,
#    exits with its status (0 and 7 tried), without SEVPN_PASSWORD in its environment;
#    a tunnel that cannot come up exits 125 and never runs the command;
#  - --ready-file gets JSON with the lease; --control serves /status, /metrics, /healthz;
#  - trust on first use: the first login records the certificate in the known-servers
#    file, the next one verifies against it, a changed certificate is refused (exit 3)
#    with a message naming the file.
# usage: exec_control_tofu_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init cli "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
W=$HL_W
PROXY=$HL_PROXY_BIN
FP=$HL_FP
PASS=$HL_PASS
mkdir -p "$W/b" "$W/www"
"$HERE/../hub/mkcert.sh" "$W/b" >/dev/null # the certificate of a "changed" server
hl_hub_start hub
PORT=$HL_HUB_PORT
echo "hello through exec mode" >"$W/www/hello.txt"
HTTP_PORT=$(hl_free_port)
(cd "$W/www" && exec "$HL_PY" -m http.server --bind 127.0.0.1 "$HTTP_PORT") >"$W/httpd.txt" 2>&1 &
HL_PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.1; done

common=(--server "127.0.0.1:$PORT" --hub DEFAULT --user alice --connect-timeout 5 --no-config)

# --- exec mode: the command's status, its environment, the ready file, the control port
SOCKS=$(hl_free_port)
CTL=$(hl_free_port)
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
[ "$rc" -eq 0 ] || hl_fail "exec mode exited $rc for a command that succeeded"
[ "$(cat "$W/got.txt")" = "hello through exec mode" ] || hl_fail "the command's curl did not go through the proxy"
grep -q "^ALL_PROXY=socks5h://127.0.0.1:$SOCKS\$" "$W/child.env" || hl_fail "ALL_PROXY not set for the command"
grep -q "^https_proxy=socks5h://127.0.0.1:$SOCKS\$" "$W/child.env" || hl_fail "https_proxy not set for the command"
grep -q '^SEVPN_PASSWORD=' "$W/child.env" && hl_fail "SEVPN_PASSWORD reached the command"
grep -qF "$PASS" "$W/child.env" && hl_fail "the password reached the command's environment"
grep -q '"ip":"10\.77\.0\.1[0-9][0-9]"' "$W/ready.json" || hl_fail "ready file: $(cat "$W/ready.json")"
grep -q "\"socks5\":\\[\"127.0.0.1:$SOCKS\"\\]" "$W/ready.json" || hl_fail "ready file lacks the listener"
grep -q '"state":"established"' "$W/status.json" || hl_fail "status: $(cat "$W/status.json")"
grep -q "\"server_cert_sha256\":\"$FP\"" "$W/status.json" || hl_fail "status lacks the cert fingerprint"
grep -q '"session_name":"SID-ALICE-' "$W/status.json" || hl_fail "status lacks the session name"
grep -q '^sevpn_up 1$' "$W/metrics.txt" || hl_fail "metrics: sevpn_up is not 1"
[ "$(cat "$W/healthz")" = 200 ] || hl_fail "healthz answered $(cat "$W/healthz")"
grep -q '^State: *established$' "$W/status.txt" || hl_fail "sevpn-proxy status: $(cat "$W/status.txt")"
grep -q '^Address: *10\.77\.0\.1[0-9][0-9]/24' "$W/status.txt" || hl_fail "status screen lacks the address"
hl_log "exec mode ok: command ran through the proxy, ready file, /status, /metrics, /healthz, sevpn-proxy status"

rc=0
SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --pin "$FP" --socks "127.0.0.1:$(hl_free_port)" \
	-- "$W/cmd.sh" 7 2>"$W/exec7.log" || rc=$?
[ "$rc" -eq 7 ] || hl_fail "exec mode exited $rc, expected the command's 7"

rm -f "$W/got.txt"
rc=0
SEVPN_PASSWORD=wrong timeout 60 "$PROXY" "${common[@]}" --pin "$FP" --socks "127.0.0.1:$(hl_free_port)" \
	-- "$W/cmd.sh" 0 2>"$W/exec-bad.log" || rc=$?
[ "$rc" -eq 125 ] || hl_fail "exec mode with a refused login exited $rc, expected 125"
[ -e "$W/got.txt" ] && hl_fail "the command ran although the tunnel never came up"
hl_log "exec mode statuses ok: 0, 7 (the command's), 125 (no tunnel)"

# --- trust on first use
KNOWN=$W/known_servers
run_tofu() { # LOG EXTRA... -> rc
	local out=$1 rc=0
	shift
	SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --known-servers "$KNOWN" "$@" \
		--socks "127.0.0.1:$(hl_free_port)" -- true 2>"$W/$out" || rc=$?
	return "$rc"
}
rc=0; run_tofu tofu-none.log || rc=$?
[ "$rc" -eq 125 ] || hl_fail "an unknown self-signed server without --trust-on-first-use: exit $rc"
grep -q -- "--pin" "$W/tofu-none.log" || hl_fail "the refusal does not suggest --pin"
rc=0; run_tofu tofu-first.log --trust-on-first-use || rc=$?
[ "$rc" -eq 0 ] || hl_fail "first use with --trust-on-first-use: exit $rc"
grep -q "$FP" "$KNOWN" || hl_fail "known_servers does not hold the fingerprint"
rc=0; run_tofu tofu-again.log || rc=$?
[ "$rc" -eq 0 ] || hl_fail "second connection to a known server: exit $rc"
# same port, another certificate: a changed server
hl_hub_stop
OLD_PORT=$PORT
cp "$W/b/hub.crt" "$W/hub.crt"
cp "$W/b/hub.key" "$W/hub.key"
hl_hub_start hub-changed
PORT=$HL_HUB_PORT
sed -i "s/127.0.0.1:$OLD_PORT /127.0.0.1:$PORT /" "$KNOWN"
common=(--server "127.0.0.1:$PORT" --hub DEFAULT --user alice --connect-timeout 5 --no-config)
rc=0
SEVPN_PASSWORD=$PASS timeout 60 "$PROXY" "${common[@]}" --known-servers "$KNOWN" \
	--socks "127.0.0.1:$(hl_free_port)" 2>"$W/tofu-changed.log" || rc=$?
[ "$rc" -eq 3 ] || hl_fail "a changed certificate for a known server: exit $rc, expected 3"
grep -q "$KNOWN" "$W/tofu-changed.log" || hl_fail "the mismatch message does not name the known-servers file"
hl_log "trust on first use ok: refused unknown, recorded, verified, refused a changed certificate"
hl_log "PASS"
