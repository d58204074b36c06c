# shellcheck shell=bash source-path=SCRIPTDIR
# shellcheck disable=SC2034,SC2153 # variables set here are read by cases.sh; HL_* come from hublib.sh
# Conformance backend: sevpn-testhub on loopback (tests/hub/hublib.sh), any user, no root.
# The interface every backend provides (see cases.sh):
#   be_setup PROXY_BIN [HUB_BIN]   everything up; sets BE_NAME, BE_URL (the LAN's web
#                                  server), BE_BIG (file name), BE_BIG_SHA, BE_PASS
#   be_proxy_start [ARGS...]       the client with the right password, ready; sets
#                                  BE_PROXY_PID, BE_PROXY_LOG, BE_READY_LINE
#                                  (BE_USER overrides the user name)
#   be_proxy_stop NAME             SIGTERM, exit 0 within 5 s; keeps the log as NAME
#   be_proxy_run NAME PASS [ARGS]  runs the client until it exits; BE_RC, BE_ELAPSED,
#                                  BE_LOG (BE_HUB / BE_USER override hub and user)
#   be_curl [CURL ARGS...]         curl through the client's SOCKS5 listener
#   be_drops_arm                   the next session(s) will lose their tunnel TCP
#                                  connection abruptly during a download...
#   be_drops_run                   ...twice (runs while the download runs; returns when
#                                  the drops are done)
#   be_download_args               extra curl arguments for the big download
#   be_log/be_fail/be_skip
HERE_BE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../hub/hublib.sh
. "$HERE_BE/../hub/hublib.sh"

be_log() { hl_log "$@"; }
be_fail() { hl_fail "$@"; }
be_skip() { hl_skip "$@"; }

be_setup() {
	[ -n "${2:-}" ] || { echo "usage: run.sh backend_hub.sh SEVPN_PROXY SEVPN_TESTHUB" >&2; exit 2; }
	hl_init conformance_hub "$2" "$1"
	BE_NAME=hub
	hl_http_start
	hl_file big.bin 64
	BE_BIG=big.bin
	BE_BIG_SHA=$HL_SHA256
	BE_URL=$HL_URL
	BE_PASS=$HL_PASS
	hl_hub_start hub
	be_log "test hub on 127.0.0.1:$HL_HUB_PORT, web server $BE_URL"
}

be_proxy_start() {
	HL_USER=${BE_USER:-alice} hl_proxy_start proxy "$@"
	BE_PROXY_PID=$HL_PROXY_PID
	BE_PROXY_LOG=$HL_PROXY_LOG
	BE_READY_LINE=$HL_READY_LINE
}

be_proxy_stop() {
	hl_proxy_stop
	mv "$HL_PROXY_LOG" "$HL_W/proxy-$1.log"
	BE_PROXY_LOG=$HL_W/proxy-$1.log
}

be_proxy_run() {
	local name=$1 pass=$2
	shift 2
	HL_USER=${BE_USER:-alice} HL_HUB=${BE_HUB:-DEFAULT} HL_RUN_TIMEOUT=10 \
		hl_proxy_run "proxy-$name" "$pass" "$@"
	BE_RC=$HL_RC
	BE_ELAPSED=$HL_ELAPSED
	BE_LOG=$HL_RUN_LOG
}

be_curl() { curl -sS --max-time 120 --socks5-hostname "$HL_SOCKS" "$@"; }

# The hub cuts each session's connection after 24 MB sent (FIN, then RST, ...): a 64 MiB
# download sees two drops. A separate hub, so that the other cases see none.
be_drops_arm() {
	hl_hub_start hub-drops --fault-drop-after-bytes 24000000 --fault-drop-alternate
}

be_drops_run() {
	local n=0
	while [ "$n" -lt 2 ]; do
		n=$(grep -c 'fault: drop after bytes' "$HL_HUB_LOG" || true)
		hl_alive "$BE_PROXY_PID" || be_fail "sevpn-proxy died"
		sleep 0.1
	done
	be_log "the hub dropped the tunnel twice: $(grep -o 'drop after bytes: closing ([A-Z]*)' "$HL_HUB_LOG" | tr '\n' ' ')"
}

be_download_args() { BE_DL_ARGS=(); }
