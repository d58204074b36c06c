#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# .vpn import with a file exported by Debian's official client: vpncmd creates an account
# in a vpnclient daemon (no TAP NIC, no connection needed), sets its password and pins the
# server's certificate, and exports it with AccountExport. Then
#   sevpn-proxy --account exported.vpn --socks ...
# with no password anywhere else (no SEVPN_PASSWORD, no file, no terminal) must log in
# with the stored hash, pin the exported certificate (--check-config shows the pin), print
# its ready line and fetch small.txt through SOCKS5. A second account exported without a
# pinned certificate must keep the default verification (system CAs), which refuses the
# test server's own certificate: exit 3, not a silent insecure connection.
# Usage: realserver_vpnfile.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init vpnfile
command -v vpnclient >/dev/null 2>&1 || sv_skip "vpnclient not installed (scripts/install-deps.sh --integration)"
sv_net_up
sv_lan_up 0
sv_server_up
sv_proxy_prepare "$1"

# --- export two accounts with the official client ----------------------------------------
vcl=$SV_ROOT/vcl
sv_softether_start vpnclient "$SV_NS_CLI" "$vcl"
sv_wait_until 20 "vpnclient's management port" \
	sh -c "ip netns exec '$SV_NS_CLI' ss -Hltn | grep -q ':993[0-9] '"
cp "$SV_CERT" "$vcl/lib/server.crt"
vc() { sv_vpncmd "$vcl" localhost /CLIENT "$@"; }
# AccountCreate wants a NIC name but not the NIC itself (that would need /dev/net/tun).
for acct in pinned unpinned; do
	vc AccountCreate "$acct" "/SERVER:$SV_SRV_IP:$SV_SRV_PORT" "/HUB:$SV_HUB" \
		"/USERNAME:$SV_USER" /NICNAME:VPN
	vc AccountPasswordSet "$acct" "/PASSWORD:$SV_PASS" /TYPE:standard
done
vc AccountServerCertSet pinned /LOADCERT:/var/lib/softether/server.crt
vc AccountServerCertEnable pinned
# Absolute paths: /var/lib/softether is $vcl/lib in the daemon's mount namespace (a
# relative path would resolve against the host's directory that nsenter --wd opened).
vc AccountExport pinned /SAVEPATH:/var/lib/softether/pinned.vpn
vc AccountExport unpinned /SAVEPATH:/var/lib/softether/unpinned.vpn
creds=$SV_ROOT/creds
mkdir -p "$creds"
for acct in pinned unpinned; do
	[ -s "$vcl/lib/$acct.vpn" ] || sv_fail "AccountExport wrote no $acct.vpn"
	cp "$vcl/lib/$acct.vpn" "$creds/$acct.vpn"
done
chown -R "$SV_RUN_UID:$SV_RUN_GID" "$creds"
chmod 700 "$creds"
chmod 600 "$creds"/*.vpn
grep -q 'byte HashedPassword ' "$creds/pinned.vpn" || sv_fail "pinned.vpn has no HashedPassword"
grep -q 'byte ServerCert ' "$creds/pinned.vpn" || sv_fail "pinned.vpn has no ServerCert"
grep -q 'byte ServerCert ' "$creds/unpinned.vpn" && sv_fail "unpinned.vpn has a ServerCert"
grep -qF "$SV_PASS" "$creds/pinned.vpn" && sv_fail "the exported file holds the plain password"
sv_log "exported pinned.vpn and unpinned.vpn ($(wc -c <"$creds/pinned.vpn") bytes)"

# The client under test without any password source but the account file: no
# SEVPN_PASSWORD in its environment (unlike sv_proxy_exec), no terminal.
exec_account() {
	exec ip netns exec "$SV_NS_CLI" setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" \
		--clear-groups --inh-caps=-all \
		env -i PATH=/usr/bin:/bin HOME="$SV_ROOT/home" "$SV_PROXY_BIN" "$@" </dev/null
}

# --- the effective settings ------------------------------------------------------------------
(exec_account --account "$creds/pinned.vpn" --socks "$SV_SOCKS" --check-config) \
	>"$SV_ROOT/check.out" 2>&1 || {
	cat "$SV_ROOT/check.out" >&2
	sv_fail "--check-config refused the exported account"
}
sed 's/^/    /' "$SV_ROOT/check.out" >&2
grep -qx "server = $SV_SRV_IP:$SV_SRV_PORT" "$SV_ROOT/check.out" || sv_fail "check-config: wrong server"
grep -qx "hub = $SV_HUB" "$SV_ROOT/check.out" || sv_fail "check-config: wrong hub"
grep -qx "user = $SV_USER" "$SV_ROOT/check.out" || sv_fail "check-config: wrong user"
grep -q "^pin = $SV_PIN " "$SV_ROOT/check.out" || sv_fail "check-config: the pin is not the server's certificate"
grep -qF "$SV_PASS" "$SV_ROOT/check.out" && sv_fail "check-config printed the password"

# --- log in with the stored hash and the pinned certificate ---------------------------------
SV_PROXY_LOG=$SV_ROOT/proxy.log
(exec_account --account "$creds/pinned.vpn" --socks "$SV_SOCKS") 2>"$SV_PROXY_LOG" >/dev/null &
SV_PROXY_PID=$!
SV_PIDS+=("$SV_PROXY_PID")
deadline=$((SECONDS + 30))
until grep -q '^ready ' "$SV_PROXY_LOG"; do
	sv_proxy_check_alive
	[ "$SECONDS" -lt "$deadline" ] || sv_fail "sevpn-proxy not ready within 30 s"
	sleep 0.1
done
sv_log "ready: $(grep -m1 '^ready ' "$SV_PROXY_LOG")"
grep -q "established SID-${SV_USER^^}-" "$SV_PROXY_LOG" || sv_fail "no session of $SV_USER in the log"
body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/small.txt") || {
	sv_proxy_check_alive
	sv_fail "fetching small.txt through SOCKS5 failed"
}
[ "$body" = "hello over IPv6" ] || sv_fail "small.txt returned '$body'"
kill -TERM "$SV_PROXY_PID"
sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "no exit within 5 s of SIGTERM"
wait "$SV_PROXY_PID" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || sv_fail "exit status $rc after SIGTERM"
sv_log "pinned account: logged in with the stored hash, small.txt ok"

# --- no pinned certificate: still verified, refused (exit 3) ---------------------------------
log=$SV_ROOT/proxy-unpinned.log
(exec_account --account "$creds/unpinned.vpn" --socks "$SV_SOCKS") 2>"$log" >/dev/null &
pid=$!
SV_PIDS+=("$pid")
sv_wait_gone "$pid" 15 || sv_fail "unpinned: still running after 15 s"
wait "$pid" && rc=0 || rc=$?
sed 's/^/    /' "$log" >&2
[ "$rc" -eq 3 ] || sv_fail "unpinned: exit status $rc, expected 3 (certificate not trusted)"
grep -q '^ready ' "$log" && sv_fail "unpinned: connected without verifying the certificate"
grep -q 'CheckServerCert' "$log" || sv_fail "unpinned: the log does not say what the account asked for"
sv_log "PASS"
