#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Debian's official softether-vpnclient against sevpn-testhub, so the hub is checked by
# a client that is not ours (issue 3). Root-only because the official client needs a TAP
# NIC; the hub itself runs as an unprivileged user (65534) with no capabilities.
# Topology: one private network namespace <p>cli holding the hub (127.0.0.1), a web
# server (127.0.0.1), vpnclient with its NIC vpn_vpn, and busybox udhcpc. The client logs
# in, leases an address from libslirp through the hub, and downloads a file from
# http://10.77.0.1:8080/ over the TAP NIC (10.77.0.1 -> 127.0.0.1 via slirp).
# usage: hub_official_test.sh PATH/TO/sevpn-testhub     (exit 0 pass, 1 fail, 77 skip)
HUB_BIN=${1:?usage: hub_official_test.sh SEVPN_TESTHUB}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../integration/lib.sh
. "$HERE/../integration/lib.sh"

sv_it_init hub_official
sv_netns_add "$SV_NS_CLI"

# The hub, unprivileged, inside the namespace.
mkdir -p "$SV_ROOT/hub"
FP=$("$HERE/mkcert.sh" "$SV_ROOT/hub")
chown -R "$SV_RUN_UID:$SV_RUN_GID" "$SV_ROOT/hub"
setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" --clear-groups test -x "$HUB_BIN" ||
	sv_skip "$HUB_BIN is not executable by uid $SV_RUN_UID"
SEVPN_TESTHUB_PASSWORD=$SV_PASS ip netns exec "$SV_NS_CLI" setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" --clear-groups \
	--inh-caps=-all "$HUB_BIN" --cert "$SV_ROOT/hub/hub.crt" --key "$SV_ROOT/hub/hub.key" \
	--listen 127.0.0.1:0 --user "$SV_USER" -v \
	>"$SV_ROOT/hub/out" 2>"$SV_ROOT/proxy-hub.log" &
SV_PIDS+=($!)
sv_wait_until 10 "the hub's listening line" grep -q '^listening ' "$SV_ROOT/hub/out"
SV_SRV_IP=127.0.0.1
SV_SRV_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$SV_ROOT/hub/out")
sv_log "hub on $SV_SRV_IP:$SV_SRV_PORT (pin $FP)"

# A web server on the namespace's loopback: the hub's LAN reaches it as 10.77.0.1:8080.
mkdir -p "$SV_ROOT/www"
head -c 16777216 /dev/urandom >"$SV_ROOT/www/big.bin"
want=$(sha256sum "$SV_ROOT/www/big.bin" | cut -d' ' -f1)
(cd "$SV_ROOT/www" && exec ip netns exec "$SV_NS_CLI" "$SV_PY" -m http.server --bind 127.0.0.1 8080) \
	>"$SV_ROOT/httpd.log" 2>&1 &
SV_PIDS+=($!)

sv_vpnclient_up
case $SV_VCL_IP in
10.77.0.1[0-9][0-9]) ;;
*) sv_fail "official client's address $SV_VCL_IP is not a lease from the hub's libslirp" ;;
esac
grep -q 'session for alice up' "$SV_ROOT/proxy-hub.log" || sv_fail "the hub logged no session"

got=$(SV_CURL_TIMEOUT=60 sv_curl --interface vpn_vpn "http://10.77.0.1:8080/big.bin" | sha256sum | cut -d' ' -f1) ||
	sv_fail "download through the official client failed"
[ "$got" = "$want" ] || sv_fail "big.bin digest $got, expected $want"
sv_log "16 MiB through the official client and the hub: sha256 ok"

# SLAAC from libslirp's router advertisements (fd77::/64).
has_slaac() { ip -n "$SV_NS_CLI" -6 addr show dev vpn_vpn scope global | grep -q 'inet6 fd77:'; }
sv_wait_until 20 "an IPv6 address on vpn_vpn by SLAAC from the hub's router advertisements" has_slaac
sv_log "SLAAC address on vpn_vpn: $(ip -n "$SV_NS_CLI" -6 addr show dev vpn_vpn scope global | awk '/inet6/ { print $2; exit }')"

# QoS on: the official client asks for 2 TCP connections (spec 12: even MaxConnection 1
# gets 2 with qos) and opens the second with additional_connect; the hub must carry both.
# The LAN (and so the lease for the NIC's MAC) outlives the first session.
r=$SV_ROOT/vcl
sv_vpncmd "$r" localhost /CLIENT AccountDisconnect ref
sv_vpncmd "$r" localhost /CLIENT AccountDetailSet ref /MAXTCP:1 /INTERVAL:1 /TTL:0 /HALF:no \
	/BRIDGE:no /MONITOR:no /NOTRACK:no /NOQOS:no /DISABLEUDP:yes
sv_vpncmd "$r" localhost /CLIENT AccountConnect ref
sv_wait_until 20 "the official client's session with QoS" sv_vpnclient_established
sv_wait_until 10 "the official client's second connection (additional_connect)" \
	grep -q 'additional connection 2 of session' "$SV_ROOT/proxy-hub.log"
grep 'session for alice up\|additional connection' "$SV_ROOT/proxy-hub.log" | sed 's/^/    /' >&2
grep -q 'session for alice up: .*max_connection 2, qos' "$SV_ROOT/proxy-hub.log" ||
	sv_fail "the hub did not grant max_connection 2 with qos"
got=$(SV_CURL_TIMEOUT=60 sv_curl --interface vpn_vpn "http://10.77.0.1:8080/big.bin" | sha256sum | cut -d' ' -f1) ||
	sv_fail "download over two connections failed"
[ "$got" = "$want" ] || sv_fail "big.bin over two connections: digest $got, expected $want"
sv_log "16 MiB through the official client with QoS (2 TCP connections): sha256 ok"
sv_log "PASS"
