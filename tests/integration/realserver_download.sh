#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# sevpn-proxy against the real SoftEther VPN Server: login with a pinned certificate, DHCP
# lease from the LAN's dnsmasq through the hub's local bridge, 64 MiB through SOCKS5 with
# a name resolved over the VPN (sha256 compared), IPv6 CONNECT to the LAN host by SLAAC,
# and all of it as an unprivileged user holding no capabilities.
# Usage: realserver_download.sh PATH/TO/sevpn-proxy     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SEVPN_PROXY" >&2; exit 2; }
sv_it_init download
sv_net_up
sv_lan_up 64
sv_server_up
sv_proxy_prepare "$1"
sv_proxy_start --control 127.0.0.1:9099

sv_check_no_caps "$SV_PROXY_PID"
sv_log "sevpn-proxy runs as uid $SV_RUN_UID with no capabilities"

# The lease came from the LAN's dnsmasq (not invented): range, gateway, DNS, lease file.
case $SV_READY_IP in
10.77.0.1[0-9][0-9]/24 | 10.77.0.200/24) ;;
*) sv_fail "ready line ip=$SV_READY_IP is not a lease from 10.77.0.100-200/24" ;;
esac
[ "$SV_READY_GW" = "$SV_LAN_IP" ] || sv_fail "gw=$SV_READY_GW, expected $SV_LAN_IP"
[ "$SV_READY_DNS" = "$SV_LAN_IP" ] || sv_fail "dns=$SV_READY_DNS, expected $SV_LAN_IP"
grep -q " ${SV_READY_IP%/*} " "$SV_ROOT/lan/dnsmasq.leases" ||
	sv_fail "dnsmasq has no lease for ${SV_READY_IP%/*}"

# It listens on the loopback SOCKS address and the loopback control port only (it is the only program in this namespace).
listen=$(ip netns exec "$SV_NS_CLI" ss -Hltn | awk '{ print $4 }' | sort | tr '\n' ' ')
[ "$listen" = "$SV_SOCKS 127.0.0.1:9099 " ] ||
	sv_fail "TCP listeners in the client namespace: '$listen', expected only $SV_SOCKS and the control port"

# 64 MiB by name: the proxy resolves intranet.test through the VPN's DNS (socks5h).
t0=$(sv_now)
got=$(sv_curl --socks5-hostname "$SV_SOCKS" "http://$SV_LAN_NAME/big.bin" | sha256sum | cut -d' ' -f1) || {
	sv_proxy_check_alive
	sv_fail "curl of big.bin through SOCKS5 failed"
}
t1=$(sv_now)
[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "big.bin through SOCKS5: sha256 $got, expected $SV_BIG_SHA256"
sv_log "64 MiB through SOCKS5 (hostname) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2fs, %.1f MB/s", b - a, 67.108864 / (b - a) }'): sha256 ok"
grep -q "query\[A\] $SV_LAN_NAME\|query\[AAAA\] $SV_LAN_NAME" "$SV_ROOT/lan/dnsmasq.log" ||
	sv_fail "dnsmasq never saw a query for $SV_LAN_NAME: the name was not resolved over the VPN"

# An IPv4 literal (SOCKS5 ATYP 1).
body=$(SV_CURL_TIMEOUT=20 sv_curl --socks5 "$SV_SOCKS" "http://$SV_LAN_IP/small.txt") || {
	sv_proxy_check_alive
	sv_fail "curl of an IPv4 literal through SOCKS5 failed"
}
[ "$body" = "hello over IPv6" ] || sv_fail "IPv4 literal fetch returned '$body'"

# IPv6 CONNECT (ATYP 4) to the LAN host's ULA; SLAAC may still be settling if the ready
# line carries no ip6=, so retry for a while.
deadline=$((SECONDS + 30))
while :; do
	body=$(SV_CURL_TIMEOUT=5 sv_curl --socks5 "$SV_SOCKS" "http://[$SV_LAN_IP6]/small.txt" 2>/dev/null) || body=
	[ "$body" = "hello over IPv6" ] && break
	sv_proxy_check_alive
	[ "$SECONDS" -lt "$deadline" ] || sv_fail "no IPv6 CONNECT to [$SV_LAN_IP6] within 30 s (ready ip6='$SV_READY_IP6')"
	sleep 1
done
sv_log "IPv6 CONNECT to [$SV_LAN_IP6] ok (ready ip6='$SV_READY_IP6')"
grep -q "^fd77:.* \"GET /small.txt" "$SV_ROOT/lan/httpd.log" ||
	sv_fail "the LAN server saw no request from an fd77:: address"

# The status screen's fields against the real server (GET /status on --control).
status=$(SV_CURL_TIMEOUT=5 sv_curl "http://127.0.0.1:9099/status") || sv_fail "GET /status failed"
for want in '"state":"established"' '"server_product":"SoftEther VPN Server' '"server_version":501' \
	'"server_build":9674' '"session_name":"SID-ALICE-' '"connection_name":"CID-' \
	"\"server_cert_sha256\":\"$SV_PIN\"" "\"ip\":\"${SV_READY_IP%/*}\"" '"cipher":"ECDHE-RSA-AES256-GCM-SHA384"' \
	'"max_connection":1' '"encryption":true' '"compression":false'; do
	case $status in *"$want"*) ;; *) sv_fail "/status lacks $want: $status" ;; esac
done
bytes=$(printf '%s' "$status" | sed -n 's/.*"bytes_in":\([0-9]*\).*/\1/p')
[ "${bytes:-0}" -gt 67108864 ] || sv_fail "/status bytes_in=$bytes after a 64 MiB download"
sv_log "/status fields match the real server's session"

# Still unprivileged after all that; then an orderly stop.
sv_check_no_caps "$SV_PROXY_PID" 2>/dev/null
kill -TERM "$SV_PROXY_PID"
sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "sevpn-proxy did not exit within 5 s of SIGTERM"
wait "$SV_PROXY_PID" && rc=0 || rc=$?
sv_log "sevpn-proxy exited with status $rc after SIGTERM"
# An orderly exit should give the lease back (shared traps.md); reported, not enforced.
n=0
until grep -q "DHCPRELEASE.* ${SV_READY_IP%/*} " "$SV_ROOT/lan/dnsmasq.log" || [ "$n" -ge 20 ]; do
	sleep 0.1
	n=$((n + 1))
done
if grep -q "DHCPRELEASE.* ${SV_READY_IP%/*} " "$SV_ROOT/lan/dnsmasq.log"; then
	sv_log "lease ${SV_READY_IP%/*} released on exit"
else
	sv_log "WARN: no DHCPRELEASE for ${SV_READY_IP%/*} after SIGTERM"
fi
sv_log "PASS"
