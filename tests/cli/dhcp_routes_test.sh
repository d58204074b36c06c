#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# DHCP static routes, domain and search list end to end against the test hub (no root).
# libslirp's DHCP cannot send option 121, so the hub appends it to slirp's OFFER and ACK
# (--dhcp-route); the domain and search list are slirp's own (--dhcp-domain/-search).
#  - /status lists the routes whose gateway is on the lease's subnet (or 0.0.0.0), the
#    domain and the search list; `sevpn-proxy status` shows Route: lines; a route through
#    a gateway elsewhere is left out and the log says why, once;
#  - /proxy.pac sends the subnet, each route and the domains through the proxy: checked
#    in the text, and run in node (tests/cli/pac_eval.js) when node is installed;
#  - a default route (0.0.0.0/0) from DHCP: the PAC sends everything but loopback
#    through the proxy.
# usage: dhcp_routes_test.sh SEVPN_TESTHUB SEVPN_PROXY   (0 pass, 1 fail, 77 skip)
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE/../hub/hublib.sh"
hl_init dhcproutes "${1:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}" "${2:?usage: $0 SEVPN_TESTHUB SEVPN_PROXY}"
NODE=$(command -v node || command -v nodejs || true)

# want WHAT EXPECTED GOT
want() { [ "$2" = "$3" ] || hl_fail "$1: expected [$2], got [$3]"; }
# has FILE FIXED-STRING WHAT
has() { grep -qF -- "$2" "$1" || hl_fail "$3: [$2] not in ${1##*/}: $(head -c 3000 "$1")"; }
hasnt() { ! grep -qF -- "$2" "$1" || hl_fail "$3: [$2] in ${1##*/}"; }

# run_pac FILE HOST...: "host -> result" lines from node, or nothing without node
run_pac() {
	local f=$1
	shift
	[ -n "$NODE" ] || return 0
	"$NODE" "$HERE/pac_eval.js" "$f" "$@" >"$f.eval" 2>&1 || hl_fail "node: $(cat "$f.eval")"
}
# pac_says FILE HOST RESULT (after run_pac)
pac_says() {
	[ -n "$NODE" ] || return 0
	grep -qxF -- "$2 -> $3" "$1.eval" || hl_fail "PAC for $2: expected [$3], got [$(grep -F "$2 ->" "$1.eval")]"
}

# --- routes, domain and search list
hl_hub_start hub --dhcp-route 10.99.0.0/16,10.77.0.1 --dhcp-route 172.20.0.0/16,192.168.9.1 \
	--dhcp-route 10.98.7.0/24,0.0.0.0 --dhcp-domain corp.test --dhcp-search lab.test \
	--dhcp-search corp.test
HTTP_P=127.0.0.1:$(hl_free_port)
CTL=127.0.0.1:$(hl_free_port)
hl_proxy_start routes -v --http "$HTTP_P" --control "$CTL"
curl -sS --max-time 5 "http://$CTL/status" >"$HL_W/status.json"
has "$HL_W/status.json" '"routes":[{"dst":"10.99.0.0/16","via":"10.77.0.1"},{"dst":"10.98.7.0/24","via":"0.0.0.0"}]' "/status routes"
has "$HL_W/status.json" '"domain":"corp.test","search":["lab.test","corp.test"]' "/status domain"
hasnt "$HL_W/status.json" '172.20' "/status: the off-subnet route"
"$HL_PROXY_BIN" status --control "$CTL" >"$HL_W/status.txt"
has "$HL_W/status.txt" 'Route:             10.99.0.0/16 via 10.77.0.1' "status screen"
has "$HL_W/status.txt" 'Route:             10.98.7.0/24 on the link' "status screen"
has "$HL_W/status.txt" 'DNS domain:        corp.test' "status screen"
has "$HL_PROXY_LOG" 'dhcp: option 121: route 172.20.0.0/16 via 192.168.9.1 ignored: the gateway is not on the lease'"'"'s subnet' "log of the route left out"
want "the route logged once" 1 "$(grep -c 'dhcp: route 10.99.0.0/16 via 10.77.0.1 (option 121)' "$HL_PROXY_LOG")"
want "the route left out logged once" 1 "$(grep -c 'route 172.20.0.0/16 via 192.168.9.1 ignored' "$HL_PROXY_LOG")"
has "$HL_PROXY_LOG" 'dhcp: route 10.98.7.0/24 on the link (option 121)' "log of the on-link route"
hl_log "/status, the status screen and the log show the routes, domain and search list"

curl -sS --max-time 5 --noproxy '*' -o "$HL_W/pac.js" "http://$HTTP_P/proxy.pac"
has "$HL_W/pac.js" 'isInNet(ip, "10.77.0.0", "255.255.255.0")' "PAC: the lease's subnet"
has "$HL_W/pac.js" 'isInNet(ip, "10.99.0.0", "255.255.0.0")' "PAC: a route"
has "$HL_W/pac.js" 'isInNet(ip, "10.98.7.0", "255.255.255.0")' "PAC: an on-link route"
has "$HL_W/pac.js" 'dnsDomainIs(h, ".corp.test")' "PAC: the domain"
has "$HL_W/pac.js" 'dnsDomainIs(h, ".lab.test")' "PAC: a search domain"
hasnt "$HL_W/pac.js" '172.20' "PAC: the off-subnet route"
want "the domain listed once" 1 "$(grep -c 'dnsDomainIs(h, ".corp.test")' "$HL_W/pac.js")"
P="PROXY $HTTP_P; SOCKS5 $HL_SOCKS"
has "$HL_W/pac.js" "var p = \"$P\";" "PAC: the proxies"
run_pac "$HL_W/pac.js" intranet.test db.internal edge.internal far.internal www.example.com \
	printer.corp.test wiki.lab.test wiki localhost 10.99.1.1 172.20.1.1 127.0.0.1
pac_says "$HL_W/pac.js" intranet.test "$P"
pac_says "$HL_W/pac.js" db.internal "$P"
pac_says "$HL_W/pac.js" edge.internal "$P"
pac_says "$HL_W/pac.js" far.internal DIRECT
pac_says "$HL_W/pac.js" www.example.com DIRECT
pac_says "$HL_W/pac.js" printer.corp.test "$P"
pac_says "$HL_W/pac.js" wiki.lab.test "$P"
pac_says "$HL_W/pac.js" wiki "$P"
pac_says "$HL_W/pac.js" localhost DIRECT
pac_says "$HL_W/pac.js" 10.99.1.1 "$P"
pac_says "$HL_W/pac.js" 172.20.1.1 DIRECT
pac_says "$HL_W/pac.js" 127.0.0.1 DIRECT
if [ -n "$NODE" ]; then
	hl_log "PAC: subnet, routes and domains through the proxy, the rest DIRECT (run in $("$NODE" --version))"
else
	hl_log "PAC: subnet, routes and domains listed (no node: the file was not run)"
fi
hl_proxy_stop
hl_hub_stop

# --- a default route: everything through the proxy
hl_hub_start hub2 --dhcp-route 10.99.0.0/16,10.77.0.1 --dhcp-route 0.0.0.0/0,10.77.0.1
HTTP_P=127.0.0.1:$(hl_free_port)
CTL=127.0.0.1:$(hl_free_port)
hl_proxy_start default -v --http "$HTTP_P" --control "$CTL"
curl -sS --max-time 5 "http://$CTL/status" >"$HL_W/status2.json"
has "$HL_W/status2.json" '"routes":[{"dst":"10.99.0.0/16","via":"10.77.0.1"},{"dst":"0.0.0.0/0","via":"10.77.0.1"}]' "/status default route"
curl -sS --max-time 5 --noproxy '*' -o "$HL_W/pac2.js" "http://$HTTP_P/proxy.pac"
has "$HL_W/pac2.js" 'default route' "PAC with a default route"
hasnt "$HL_W/pac2.js" 'isInNet' "PAC with a default route"
P="PROXY $HTTP_P; SOCKS5 $HL_SOCKS"
run_pac "$HL_W/pac2.js" www.example.com 172.20.1.1 localhost 127.0.0.1 intranet.test
pac_says "$HL_W/pac2.js" www.example.com "$P"
pac_says "$HL_W/pac2.js" 172.20.1.1 "$P"
pac_says "$HL_W/pac2.js" intranet.test "$P"
pac_says "$HL_W/pac2.js" localhost DIRECT
pac_says "$HL_W/pac2.js" 127.0.0.1 DIRECT
hl_log "a DHCP default route: the PAC sends everything but loopback through the proxy"
hl_proxy_stop
echo "PASS: dhcp routes"
