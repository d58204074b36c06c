# shellcheck shell=bash source-path=SCRIPTDIR
# shellcheck disable=SC2034,SC2153 # variables set here are read by cases.sh; HL_* come from hublib.sh
# Conformance backend: Debian's SoftEther VPN Server in network namespaces
# (tests/integration/lib.sh; needs root, else exit 77). Same interface as backend_hub.sh.
HERE_BE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
. "$HERE_BE/../integration/lib.sh"

be_log() { sv_log "$@"; }
be_fail() { sv_fail "$@"; }
be_skip() { sv_skip "$@"; }

be_setup() {
	SV_IT_DEADLINE=${SV_IT_DEADLINE:-300}
	sv_it_init conformance_real
	BE_NAME=real
	sv_net_up
	sv_lan_up 64
	sv_server_up
	sv_hubcmd UserCreate guest /GROUP:none /REALNAME:none /NOTE:none
	sv_hubcmd UserAnonymousSet guest
	sv_proxy_prepare "$1"
	BE_BIG=big.bin
	BE_BIG_SHA=$SV_BIG_SHA256
	BE_URL=http://$SV_LAN_NAME
	BE_PASS=$SV_PASS
}

be_proxy_start() {
	SV_USER=${BE_USER:-$SV_USER} sv_proxy_start "$@"
	BE_PROXY_PID=$SV_PROXY_PID
	BE_PROXY_LOG=$SV_PROXY_LOG
	BE_READY_LINE=$SV_READY_LINE
}

be_proxy_stop() {
	local rc
	kill -TERM "$SV_PROXY_PID"
	sv_wait_gone "$SV_PROXY_PID" 5 || sv_fail "no exit within 5 s of SIGTERM"
	wait "$SV_PROXY_PID" && rc=0 || rc=$?
	[ "$rc" -eq 0 ] || sv_fail "exit status $rc after SIGTERM"
	mv "$SV_PROXY_LOG" "$SV_ROOT/proxy-$1.log"
	BE_PROXY_LOG=$SV_ROOT/proxy-$1.log
}

be_proxy_run() {
	local name=$1 pass=$2 pid t0
	shift 2
	SV_USER=${BE_USER:-$SV_USER} SV_HUB=${BE_HUB:-$SV_HUB} sv_proxy_args
	BE_LOG=$SV_ROOT/proxy-$name.log
	t0=$(sv_now)
	(sv_proxy_exec "$pass" "${SV_PROXY_ARGS[@]}" "$@") 2>"$BE_LOG" >/dev/null &
	pid=$!
	SV_PIDS+=("$pid")
	if sv_wait_gone "$pid" 10; then
		wait "$pid" && BE_RC=0 || BE_RC=$?
	else
		BE_RC=124
	fi
	BE_ELAPSED=$(awk -v a="$t0" -v b="$(sv_now)" 'BEGIN { printf "%.2f", b - a }')
}

be_curl() { sv_curl --socks5-hostname "$SV_SOCKS" "$@"; }

be_drops_arm() { :; }

# ss -K in the client's namespace: the server sees an abrupt loss (5.01 then drops the
# session); at 2 s, then 2 s after the first reconnect.
be_drops_run() {
	sleep 2
	sv_kill_tunnel "first"
	sv_wait_until 10 "the first reconnect" \
		sh -c "[ \$(grep -c 'established on hub' '$SV_PROXY_LOG') -ge 2 ]"
	sleep 2
	sv_kill_tunnel "second"
}

# 64 MiB at 8 MB/s: about 8 s, long enough to cut the tunnel twice underneath it.
be_download_args() { BE_DL_ARGS=(--limit-rate 8M); }
