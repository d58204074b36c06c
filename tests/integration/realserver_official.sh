#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Reference check of the topology with Debian's official softether-vpnclient (root-only:
# it needs a TAP device): it logs in to the real vpnserver, leases an address from the
# LAN's dnsmasq through the hub's local bridge, gets an IPv6 address by SLAAC, and
# downloads through the tunnel. When this fails the setup is broken, not sevpn-proxy.
# Usage: realserver_official.sh     (exit 0 pass, 1 fail, 77 skip)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

sv_it_init official
sv_net_up
sv_lan_up 64
sv_server_up
sv_vpnclient_up

case $SV_VCL_IP in
10.77.0.1[0-9][0-9] | 10.77.0.200) ;;
*) command -v busybox >/dev/null 2>&1 && sv_fail "lease $SV_VCL_IP outside the DHCP range" ;;
esac
grep -q " $SV_VCL_IP " "$SV_ROOT/lan/dnsmasq.leases" || {
	command -v busybox >/dev/null 2>&1 && sv_fail "dnsmasq has no lease for $SV_VCL_IP"
}

got=$(sv_curl "http://$SV_LAN_IP/big.bin" | sha256sum | cut -d' ' -f1) ||
	sv_fail "curl of big.bin through the official client failed"
[ "$got" = "$SV_BIG_SHA256" ] || sv_fail "big.bin digest $got, expected $SV_BIG_SHA256"
sv_log "64 MiB over IPv4 through the official client: sha256 ok"

# SLAAC from dnsmasq's router advertisements (sent every few seconds at first).
sv_wait_until 30 "an IPv6 address on vpn_vpn by SLAAC" \
	sh -c "ip -n '$SV_NS_CLI' -6 addr show dev vpn_vpn scope global | grep -q 'inet6 fd77:'"
body=$(SV_CURL_TIMEOUT=10 sv_curl "http://[$SV_LAN_IP6]/small.txt") ||
	sv_fail "IPv6 fetch through the official client failed"
[ "$body" = "hello over IPv6" ] || sv_fail "IPv6 fetch returned '$body'"
sv_log "IPv6 fetch through the official client ok"
sv_log "PASS"
