# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are read by the sourcing scripts
# Shared setup and teardown for the real-server integration tests and the benchmark.
# Source it from bash, then:  sv_it_init NAME; sv_net_up; sv_lan_up MIB; sv_server_up; ...
#
# Topology (see /work/shared/docs/softether-test-setup.md), every name prefixed with
# sv<pid> so parallel runs do not collide:
#   <p>lan  10.77.0.1/24 + fd77::1/64: dnsmasq (DHCPv4, DNS intranet.test, RA + stateless
#           DHCPv6), an HTTP server (v4+v6) serving big.bin and small.txt
#      | veth <p>l0 <-> <p>s0 (no address, offloads off, bridged into the hub)
#   <p>srv  Debian's vpnserver, isolated by a private mount namespace (its hard-coded
#           /var/lib, /run, /var/log softether dirs bind-mounted from the work dir, /tmp a
#           tmpfs), hub DEFAULT, user alice, our own certificate (pin known in advance),
#           listener 443 only, DDNS / NAT-T / keep-alive / OpenVPN / SSTP off
#      | veth <p>s1 10.78.0.1/30 <-> <p>c0 10.78.0.2/30
#   <p>cli  the client under test, run as an unprivileged user (65534) with no capabilities;
#           curl; optionally Debian's vpnclient with its TAP NIC (root-only, reference)
# No namespace has a default route: nothing can leave the machine.
#
# Everything started here is recorded by PID and stopped by sv_cleanup (an EXIT trap);
# the namespaces and the work dir are deleted. SV_IT_KEEP=1 keeps the work dir for
# debugging. A watchdog ends the run after SV_IT_DEADLINE seconds (default 540), below
# ctest's TIMEOUT, so that the cleanup still runs.

set -eu
set -o pipefail

SV_IT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SV_HUB=DEFAULT
SV_USER=alice
SV_SRV_IP=10.78.0.1
SV_CLI_IP=10.78.0.2
SV_SRV_PORT=443
SV_LAN_IP=10.77.0.1
SV_LAN_IP6=fd77::1
SV_LAN_NAME=intranet.test
SV_SOCKS=127.0.0.1:1080
SV_RUN_UID=65534
SV_RUN_GID=65534

SV_PROXY_ENV=()   # extra NAME=VALUE for the client's environment (sv_proxy_exec, sv_cli_user)
SV_PIDS=()        # plain processes to TERM/KILL at exit
SV_SE_ROOTS=()    # SoftEther daemon roots (pid file + run/.pid_*)
SV_NETNS=()       # namespaces we created
SV_WATCHDOG=
SV_ROOT=
SV_CLEANED=

sv_log() { printf '[%s %3ss] %s\n' "${SV_NAME:-it}" "$SECONDS" "$*" >&2; }
sv_fail() {
	sv_log "FAIL: $*"
	exit 1
}
sv_skip() {
	echo "SKIP: $*"
	exit 77
}

# Seconds since the epoch with microseconds (bash 5 EPOCHREALTIME, else date).
sv_now() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		printf '%s\n' "${EPOCHREALTIME/,/.}"
	else
		date +%s.%N
	fi
}

# sv_wait_until TIMEOUT_S WHAT CMD...: polls CMD every 0.1 s; fails after TIMEOUT_S.
sv_wait_until() {
	local timeout=$1 what=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) + timeout * 1000000000))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			sv_fail "timed out after ${timeout}s waiting for $what"
		fi
		sleep 0.1
	done
}

# True while PID exists and is not a zombie.
sv_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Waits up to $2 seconds (default 5) for PID $1 to go away.
sv_wait_gone() {
	local pid=$1 n=$((${2:-5} * 10))
	while [ "$n" -gt 0 ] && sv_alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	! sv_alive "$pid"
}

sv_stop_pid() { # PID: TERM, then KILL after 5 s; reaps it when it is our child
	local pid=$1
	sv_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	sv_wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
	sv_wait_gone "$pid" 2 || true
	wait "$pid" 2>/dev/null || true
}

# Stops a SoftEther daemon we started: SIGTERM to the worker (it saves its config and the
# watchdog parent exits), SIGKILL to the parent first if that does not work.
sv_stop_softether() {
	local root=$1 parent worker f
	parent=$(cat "$root/pid" 2>/dev/null) || return 0
	worker=
	for f in "$root"/run/.pid_*; do
		[ -r "$f" ] && worker=$(tr -dc 0-9 <"$f")
	done
	if [ -n "$worker" ] && sv_alive "$worker"; then
		kill -TERM "$worker" 2>/dev/null || true
	fi
	if ! sv_wait_gone "$parent" 8; then
		kill -KILL "$parent" 2>/dev/null || true
		[ -n "$worker" ] && kill -KILL "$worker" 2>/dev/null
		sv_wait_gone "$parent" 2 || true
	fi
	if [ -n "$worker" ] && sv_alive "$worker"; then
		kill -KILL "$worker" 2>/dev/null || true
	fi
	return 0
}

sv_dump_logs() {
	local f
	for f in "$SV_ROOT"/proxy*.log "$SV_ROOT"/lan/*.log \
		"$SV_ROOT"/srv/log/server_log/*.log "$SV_ROOT"/vcl/log/client_log/*.log; do
		[ -s "$f" ] || continue
		echo "----- tail of ${f#"$SV_ROOT"/} -----" >&2
		tail -n 25 "$f" >&2
	done
}

sv_cleanup() {
	local rc=$? i root ns pid
	set +e
	[ -n "$SV_CLEANED" ] && return
	SV_CLEANED=1
	trap - EXIT INT TERM HUP
	if [ -n "$SV_ROOT" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		sv_dump_logs
	fi
	for ((i = ${#SV_PIDS[@]} - 1; i >= 0; i--)); do
		sv_stop_pid "${SV_PIDS[i]}"
	done
	for root in "${SV_SE_ROOTS[@]}"; do
		sv_stop_softether "$root"
	done
	# Anything still inside our namespaces was started by us (directly or not).
	for ns in "${SV_NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for ns in "${SV_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$SV_WATCHDOG" ]; then
		kill -TERM "$SV_WATCHDOG" 2>/dev/null
		wait "$SV_WATCHDOG" 2>/dev/null
	fi
	if [ -n "$SV_ROOT" ] && [ -d "$SV_ROOT" ]; then
		if [ "${SV_IT_KEEP:-0}" = 1 ]; then
			: >"$SV_ROOT/.keep"
			sv_log "kept work dir $SV_ROOT"
		else
			rm -rf "$SV_ROOT"
		fi
	fi
	exit "$rc"
}

# sv_it_init NAME: checks privileges and tools (exit 77 = skip), creates the work dir and
# the traps. Call first.
sv_it_init() {
	SV_NAME=$1
	local t
	if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
		sv_skip "needs root for network namespaces"
	fi
	for t in vpnserver vpncmd dnsmasq curl openssl setpriv unshare nsenter setsid sha256sum ss timeout; do
		command -v "$t" >/dev/null 2>&1 ||
			sv_skip "$t not installed (scripts/install-deps.sh --integration)"
	done
	SV_PY=$(command -v /usr/bin/python3 || command -v python3 || true)
	[ -n "$SV_PY" ] || sv_skip "python3 not installed"
	sv_sweep_stale
	SV_P="sv$$"
	SV_NS_SRV=${SV_P}srv SV_NS_LAN=${SV_P}lan SV_NS_CLI=${SV_P}cli
	SV_IF_LAN=${SV_P}l0 SV_IF_BR=${SV_P}s0 SV_IF_SRV=${SV_P}s1 SV_IF_CLI=${SV_P}c0
	SV_PASS="it-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	SV_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/sevpn-it.$$.XXXXXX")
	chmod 755 "$SV_ROOT"
	trap sv_cleanup EXIT
	# set -e must never end a test silently
	trap 'sv_log "FAIL: unexpected status $? at line $LINENO: $BASH_COMMAND"' ERR
	trap 'sv_log "interrupted"; exit 130' INT HUP
	trap 'sv_log "FAIL: terminated (deadline or signal)"; exit 124' TERM
	local me=$$
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "${SV_IT_DEADLINE:-540}" &
		s=$!
		wait "$s"
		kill -TERM "$me" 2>/dev/null
	) &
	SV_WATCHDOG=$!
	sv_log "work dir $SV_ROOT, prefix $SV_P"
}

# Namespaces left by an earlier run that was killed outright (e.g. SIGKILL by a ctest
# timeout): named sv<pid>{srv,lan,cli} by this file, their creator <pid> gone. Everything
# inside them was started by that run.
sv_sweep_stale() {
	local ns owner pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^sv[0-9]+(srv|lan|cli)$'); do
		owner=${ns#sv}
		owner=${owner%???}
		kill -0 "$owner" 2>/dev/null && continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null && sv_log "removed stale namespace $ns"
	done
	local d
	for d in "${TMPDIR:-/tmp}"/sevpn-it.*.*; do
		{ [ -d "$d" ] && [ ! -e "$d/.keep" ]; } || continue
		owner=${d##*/sevpn-it.}
		owner=${owner%%.*}
		case $owner in '' | *[!0-9]*) continue ;; esac
		kill -0 "$owner" 2>/dev/null && continue
		rm -rf "$d" && sv_log "removed stale work dir $d"
	done
	return 0
}

sv_netns_add() {
	ip netns add "$1" || sv_skip "cannot create network namespaces (ip netns add failed)"
	SV_NETNS+=("$1")
	ip -n "$1" link set lo up
}

sv_offloads_off() { # NS IF
	if command -v ethtool >/dev/null 2>&1; then
		ip netns exec "$1" ethtool -K "$2" rx off tx off sg off tso off gso off gro off \
			>/dev/null 2>&1 || true
	fi
}

# Namespaces and links.
sv_net_up() {
	sv_netns_add "$SV_NS_SRV"
	sv_netns_add "$SV_NS_LAN"
	sv_netns_add "$SV_NS_CLI"
	ip link add "$SV_IF_LAN" netns "$SV_NS_LAN" type veth peer name "$SV_IF_BR" netns "$SV_NS_SRV"
	ip link add "$SV_IF_SRV" netns "$SV_NS_SRV" type veth peer name "$SV_IF_CLI" netns "$SV_NS_CLI"
	# The bridged end must not speak for itself on the LAN (no IPv6 link-local, no RS).
	ip netns exec "$SV_NS_SRV" sysctl -qw "net.ipv6.conf.$SV_IF_BR.disable_ipv6=1"
	sv_offloads_off "$SV_NS_LAN" "$SV_IF_LAN"
	sv_offloads_off "$SV_NS_SRV" "$SV_IF_BR"
	ip -n "$SV_NS_LAN" addr add "$SV_LAN_IP/24" dev "$SV_IF_LAN"
	ip -n "$SV_NS_LAN" -6 addr add "$SV_LAN_IP6/64" dev "$SV_IF_LAN" nodad
	ip -n "$SV_NS_LAN" link set "$SV_IF_LAN" up
	ip -n "$SV_NS_SRV" link set "$SV_IF_BR" up
	ip -n "$SV_NS_SRV" addr add "$SV_SRV_IP/30" dev "$SV_IF_SRV"
	ip -n "$SV_NS_SRV" link set "$SV_IF_SRV" up
	ip -n "$SV_NS_CLI" addr add "$SV_CLI_IP/30" dev "$SV_IF_CLI"
	ip -n "$SV_NS_CLI" link set "$SV_IF_CLI" up
}

# sv_lan_up [BIG_MIB [BIG_NAME]]: files, HTTP server and dnsmasq in the LAN namespace.
# SV_BIG_SHA256 is the digest of the big file.
sv_lan_up() {
	local mib=${1:-64} name=${2:-big.bin} www=$SV_ROOT/lan/www
	mkdir -p "$www"
	chmod 755 "$SV_ROOT/lan" "$www"
	if [ "$mib" -gt 0 ]; then
		head -c "$((mib * 1048576))" /dev/urandom >"$www/$name"
		SV_BIG_SHA256=$(sha256sum "$www/$name" | cut -d' ' -f1)
	fi
	echo "hello over IPv6" >"$www/small.txt"
	"$SV_PY" -c 'import http.server' || sv_skip "python3 http.server unavailable"
	ip netns exec "$SV_NS_LAN" "$SV_PY" "$SV_IT_LIB_DIR/httpd.py" "$www" 80 \
		>"$SV_ROOT/lan/httpd.log" 2>&1 &
	SV_PIDS+=($!)
	ip netns exec "$SV_NS_LAN" dnsmasq --keep-in-foreground --conf-file=/dev/null \
		--no-resolv --no-hosts --interface="$SV_IF_LAN" --bind-interfaces \
		--pid-file="$SV_ROOT/lan/dnsmasq.pid" --dhcp-leasefile="$SV_ROOT/lan/dnsmasq.leases" \
		--log-facility="$SV_ROOT/lan/dnsmasq.log" --log-dhcp --log-queries \
		--dhcp-authoritative --no-ping \
		--dhcp-range=10.77.0.100,10.77.0.200,255.255.255.0,10m \
		--dhcp-option=option:router,"$SV_LAN_IP" --dhcp-option=option:dns-server,"$SV_LAN_IP" \
		--address="/$SV_LAN_NAME/$SV_LAN_IP" --address="/$SV_LAN_NAME/$SV_LAN_IP6" \
		--enable-ra --dhcp-range=fd77::,ra-stateless,64,10m \
		--dhcp-option="option6:dns-server,[$SV_LAN_IP6]" &
	SV_PIDS+=($!)
	SV_DNSMASQ_PID=$!
	sv_wait_until 10 "the LAN HTTP server" \
		ip netns exec "$SV_NS_LAN" curl -sf -o /dev/null "http://[$SV_LAN_IP6]/small.txt"
	sv_wait_until 10 "the LAN HTTP server on IPv4" \
		ip netns exec "$SV_NS_LAN" curl -sf -o /dev/null "http://$SV_LAN_IP/small.txt"
	sv_wait_until 10 "dnsmasq" grep -q 'router advertisement on' "$SV_ROOT/lan/dnsmasq.log"
	sv_alive "$SV_DNSMASQ_PID" || sv_fail "dnsmasq exited"
}

# sv_softether_start KIND NS ROOT: runs vpnserver|vpnclient execsvc in namespace NS with
# its state under ROOT/{lib,run,log}, in its own session (it renices its process group).
sv_softether_start() {
	local kind=$1 ns=$2 root=$3 d
	# The hard-coded mount points; Debian's systemd units create them as state dirs.
	for d in /var/lib/softether /run/softether /var/log/softether; do
		[ -d "$d" ] || mkdir -p "$d"
	done
	mkdir -p "$root/lib" "$root/run" "$root/log"
	: >"$root/resolv.conf"
	echo "nameserver 127.0.0.1" >"$root/resolv.conf"
	SV_SE_ROOTS+=("$root")
	# shellcheck disable=SC2016 # expanded by the inner sh
	setsid --fork ip netns exec "$ns" unshare --mount --propagation private sh -c '
		echo $$ >"$0/pid"
		mount --bind "$0/lib" /var/lib/softether &&
		mount --bind "$0/run" /run/softether &&
		mount --bind "$0/log" /var/log/softether &&
		mount -t tmpfs -o size=16m se-tmp /tmp || exit 111
		mount --bind "$0/resolv.conf" /etc/resolv.conf 2>/dev/null
		exec "$1" execsvc' "$root" "$kind" >"$root/stdout" 2>&1 </dev/null
	sv_wait_until 10 "$kind to start" test -s "$root/pid"
}

# sv_vpncmd_try ROOT TARGET MODE CMD ARGS...: one vpncmd command inside the daemon's mount
# and network namespaces (stdin closed, so a prompt fails); true if it reports success.
# Output in $SV_VPNCMD_OUT.
sv_vpncmd_try() {
	local root=$1 target=$2 mode=$3 pid
	shift 3
	pid=$(cat "$root/pid")
	SV_VPNCMD_OUT=$(nsenter -t "$pid" -m -n --wd=/var/lib/softether \
		timeout 10 vpncmd "$target" "$mode" ${SV_HUBOPT:+"$SV_HUBOPT" "$SV_HUBPW"} /CMD "$@" </dev/null 2>&1) || true
	case $SV_VPNCMD_OUT in
	*"The command completed successfully."*) return 0 ;;
	esac
	return 1
}

# sv_vpncmd: the same, failing the test when the command fails.
sv_vpncmd() {
	sv_vpncmd_try "$@" && return 0
	printf '%s\n' "$SV_VPNCMD_OUT" | tail -n 8 >&2
	sv_fail "vpncmd $3 $4 failed"
}

sv_srvcmd() { sv_vpncmd "$SV_ROOT/srv" "127.0.0.1:$SV_SRV_PORT" /SERVER "$@"; }
sv_hubcmd() {
	# hub admin mode: the hub's password (set by HubCreate), else vpncmd prompts for one
	local SV_HUBOPT="/HUB:$SV_HUB" SV_HUBPW="/PASSWORD:$SV_PASS"
	sv_vpncmd "$SV_ROOT/srv" "127.0.0.1:$SV_SRV_PORT" /SERVER "$@"
}

# The VPN server with our certificate; sets SV_PIN (SHA-256 of the certificate, hex).
sv_server_up() {
	local r=$SV_ROOT/srv live
	mkdir -p "$r/lib"
	openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=vpn.test \
		-addext "subjectAltName=DNS:vpn.test,IP:$SV_SRV_IP" \
		-keyout "$r/lib/server.key" -out "$r/lib/server.crt" >/dev/null 2>&1 ||
		sv_fail "openssl could not make a certificate"
	SV_CERT=$r/lib/server.crt
	SV_PIN=$(openssl x509 -in "$SV_CERT" -outform DER | sha256sum | cut -d' ' -f1)
	# A partial configuration: everything else gets SoftEther's defaults. One listener,
	# no dynamic DNS, NAT traversal, keep-alive, OpenVPN or SSTP (they can reach nothing).
	cat >"$r/lib/vpn_server.config" <<EOF
declare root
{
	declare DDnsClient
	{
		bool Disabled true
	}
	declare ListenerList
	{
		declare Listener0
		{
			bool DisableDos false
			bool Enabled true
			uint Port $SV_SRV_PORT
		}
	}
	declare ServerConfiguration
	{
		bool DisableNatTraversal true
		bool UseKeepConnect false
		declare Proto
		{
			declare OpenVPN
			{
				bool Enabled false
			}
			declare SSTP
			{
				bool Enabled false
			}
		}
	}
}
EOF
	sv_softether_start vpnserver "$SV_NS_SRV" "$r"
	sv_wait_until 20 "vpnserver to listen on $SV_SRV_PORT" \
		sh -c "ip netns exec '$SV_NS_SRV' ss -Hltn 'sport = :$SV_SRV_PORT' | grep -q LISTEN"
	sv_srvcmd HubCreate "$SV_HUB" "/PASSWORD:$SV_PASS"
	sv_srvcmd ServerCertSet /LOADCERT:/var/lib/softether/server.crt /LOADKEY:/var/lib/softether/server.key
	sv_srvcmd KeepDisable
	sv_hubcmd UserCreate "$SV_USER" /GROUP:none /REALNAME:none /NOTE:none
	sv_hubcmd UserPasswordSet "$SV_USER" "/PASSWORD:$SV_PASS"
	sv_srvcmd BridgeCreate "$SV_HUB" "/DEVICE:$SV_IF_BR" /TAP:no
	sv_wait_until 15 "the local bridge to operate" sv_bridge_operating
	# The pin the clients are given must be what the live server presents.
	live=$(ip netns exec "$SV_NS_CLI" timeout 10 openssl s_client -connect "$SV_SRV_IP:$SV_SRV_PORT" \
		</dev/null 2>/dev/null | openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$live" = "$SV_PIN" ] || sv_fail "server presents certificate $live, expected $SV_PIN"
	sv_log "vpnserver up: hub $SV_HUB, user $SV_USER, pin $SV_PIN"
}

sv_bridge_operating() {
	sv_vpncmd_try "$SV_ROOT/srv" "127.0.0.1:$SV_SRV_PORT" /SERVER BridgeList && printf '%s\n' "$SV_VPNCMD_OUT" | grep -q "|$SV_IF_BR .*|Operating"
}

# --- the client under test ---------------------------------------------------------------

# sv_proxy_prepare BIN: makes BIN runnable by the unprivileged user (copies it into the
# work dir when its own path is not reachable) and sets SV_PROXY_BIN.
sv_proxy_prepare() {
	local bin=$1
	[ -x "$bin" ] || sv_fail "client binary $bin not found"
	mkdir -p "$SV_ROOT/home" "$SV_ROOT/bin"
	chown "$SV_RUN_UID:$SV_RUN_GID" "$SV_ROOT/home"
	chmod 700 "$SV_ROOT/home"
	if setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" --clear-groups test -x "$bin"; then
		SV_PROXY_BIN=$bin
	else
		cp "$bin" "$SV_ROOT/bin/sevpn-proxy"
		chmod 755 "$SV_ROOT/bin" "$SV_ROOT/bin/sevpn-proxy"
		SV_PROXY_BIN=$SV_ROOT/bin/sevpn-proxy
	fi
}

# sv_proxy_exec PASSWORD ARGS...: replaces the shell with the client in the
# CLI namespace as uid 65534 without capabilities and with a clean environment.
# SV_PROXY_NICE (e.g. -20) starts it at that niceness.
sv_proxy_exec() {
	local pass=$1
	shift
	local nice=() wrap=()
	[ -n "${SV_PROXY_NICE:-}" ] && nice=(nice -n "$SV_PROXY_NICE")
	# Debugging hook, e.g. SV_IT_WRAP="gdb -q -batch -ex run -ex bt --args" or "valgrind -q"
	# shellcheck disable=SC2206 # word splitting wanted
	[ -n "${SV_IT_WRAP:-}" ] && wrap=($SV_IT_WRAP)
	exec ip netns exec "$SV_NS_CLI" "${nice[@]}" setpriv --reuid="$SV_RUN_UID" \
		--regid="$SV_RUN_GID" --clear-groups --inh-caps=-all \
		env -i PATH=/usr/bin:/bin HOME="$SV_ROOT/home" SEVPN_PASSWORD="$pass" "${SV_PROXY_ENV[@]}" \
		"${wrap[@]}" "$SV_PROXY_BIN" "$@"
}

# sv_cli_user CMD ARGS...: runs CMD in the CLI namespace as the unprivileged user, without
# capabilities, with a clean environment plus SV_PROXY_ENV (e.g. ssh whose ProxyCommand
# is the client).
sv_cli_user() {
	ip netns exec "$SV_NS_CLI" setpriv --reuid="$SV_RUN_UID" --regid="$SV_RUN_GID" \
		--clear-groups --inh-caps=-all \
		env -i PATH=/usr/bin:/bin HOME="$SV_ROOT/home" "${SV_PROXY_ENV[@]}" "$@"
}

# Default arguments for the client under test.
sv_proxy_args() {
	SV_PROXY_ARGS=(--server "$SV_SRV_IP:$SV_SRV_PORT" --hub "$SV_HUB" --user "$SV_USER"
		--pin "$SV_PIN" --socks "$SV_SOCKS")
	[ "${SV_IT_VERBOSE:-0}" = 1 ] && SV_PROXY_ARGS+=(-v)
	return 0
}

# sv_proxy_start [EXTRA ARGS...]: starts the client with the right password and waits for
# its ready line. Sets SV_PROXY_PID, SV_PROXY_LOG, SV_READY_LINE, SV_READY_IP (a.b.c.d),
# SV_READY_GW, SV_READY_DNS, SV_READY_IP6 (may be empty). SV_PROXY_TAG (default proxy)
# names its log, $SV_ROOT/TAG.log, so that several instances can run.
sv_proxy_start() {
	sv_proxy_args
	SV_PROXY_LOG=$SV_ROOT/${SV_PROXY_TAG:-proxy}.log
	# emptied here, not by the child's redirection: the wait below must not read the ready
	# line of an earlier instance that wrote the same file before the child opened it
	: >"$SV_PROXY_LOG"
	(sv_proxy_exec "$SV_PASS" "${SV_PROXY_ARGS[@]}" "$@") 2>>"$SV_PROXY_LOG" >"$SV_ROOT/${SV_PROXY_TAG:-proxy}.out" &
	SV_PROXY_PID=$!
	SV_PIDS+=("$SV_PROXY_PID")
	local deadline=$((SECONDS + ${SV_READY_TIMEOUT:-30}))
	until grep -q '^ready ' "$SV_PROXY_LOG"; do
		if ! sv_alive "$SV_PROXY_PID"; then
			wait "$SV_PROXY_PID" && rc=0 || rc=$?
			sv_fail "sevpn-proxy exited with status $rc before it was ready"
		fi
		[ "$SECONDS" -lt "$deadline" ] || sv_fail "sevpn-proxy not ready within ${SV_READY_TIMEOUT:-30}s"
		sleep 0.1
	done
	SV_READY_LINE=$(grep -m1 '^ready ' "$SV_PROXY_LOG")
	sv_log "sevpn-proxy pid $SV_PROXY_PID: $SV_READY_LINE"
	[ "$(grep -c '^ready ' "$SV_PROXY_LOG")" -eq 1 ] || sv_fail "more than one ready line"
	SV_READY_IP=$(sv_ready_field ip)
	SV_READY_GW=$(sv_ready_field gw)
	SV_READY_DNS=$(sv_ready_field dns)
	SV_READY_IP6=$(sv_ready_field ip6)
	[ "$(sv_ready_field socks5)" = "$SV_SOCKS" ] || sv_fail "ready line names another SOCKS address"
	return 0
}

# Fails the test when the client under test is gone, naming its exit status.
sv_proxy_check_alive() {
	local rc
	sv_alive "$SV_PROXY_PID" && return 0
	wait "$SV_PROXY_PID" && rc=0 || rc=$?
	[ "$rc" -gt 128 ] && sv_fail "sevpn-proxy died: signal $((rc - 128)) ($(kill -l "$((rc - 128))" 2>/dev/null))"
	sv_fail "sevpn-proxy exited with status $rc"
}

sv_ready_field() {
	printf '%s\n' "$SV_READY_LINE" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}

# sv_check_no_caps PID: the process runs as the unprivileged user and holds no capability.
sv_check_no_caps() {
	local pid=$1 st
	st=$(cat "/proc/$pid/status") || sv_fail "no /proc/$pid/status"
	printf '%s\n' "$st" | grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' |
		sed 's/^/    /' >&2
	# here-strings, not printf | grep -q: under pipefail grep -q's early exit can fail the
	# pipeline with printf's SIGPIPE
	grep -qE "^Uid:[[:space:]]+${SV_RUN_UID}[[:space:]]+${SV_RUN_UID}[[:space:]]+${SV_RUN_UID}[[:space:]]+${SV_RUN_UID}\$" <<<"$st" ||
		sv_fail "pid $pid does not run as uid $SV_RUN_UID"
	local c
	for c in CapInh CapPrm CapEff CapAmb; do
		grep -qE "^$c:[[:space:]]+0+\$" <<<"$st" || sv_fail "pid $pid holds capabilities ($c)"
	done
	[ -n "${SV_IT_WRAP:-}" ] || [ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$SV_PROXY_BIN")" ] ||
		sv_fail "pid $pid is $(readlink "/proc/$pid/exe"), not the client"
}

# sv_curl ARGS...: curl inside the CLI namespace (as root; curl is not under test).
sv_curl() {
	ip netns exec "$SV_NS_CLI" curl -sS --max-time "${SV_CURL_TIMEOUT:-120}" "$@"
}

# sv_cpu_ticks PID: utime+stime of the process (all threads), in clock ticks.
sv_cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# --- Debian's official client, the reference ---------------------------------------------

# sv_vpnclient_up: vpnclient in the CLI namespace with its TAP NIC vpn_vpn, one TCP
# connection (QoS and UDP acceleration off), address from the LAN's dnsmasq via busybox
# udhcpc (static 10.77.0.99 when busybox is missing). Sets SV_VCL_WORKER, SV_VCL_IP.
sv_vpnclient_up() {
	local r=$SV_ROOT/vcl
	[ -c /dev/net/tun ] || sv_skip "no /dev/net/tun for the official client's TAP NIC"
	command -v vpnclient >/dev/null 2>&1 || sv_skip "vpnclient not installed (scripts/install-deps.sh --integration)"
	sv_softether_start vpnclient "$SV_NS_CLI" "$r"
	sv_wait_until 20 "vpnclient's management port" \
		sh -c "ip netns exec '$SV_NS_CLI' ss -Hltn | grep -q ':993[0-9] '"
	sv_vpncmd "$r" localhost /CLIENT NicCreate VPN
	sv_vpncmd "$r" localhost /CLIENT AccountCreate ref "/SERVER:$SV_SRV_IP:$SV_SRV_PORT" \
		"/HUB:$SV_HUB" "/USERNAME:$SV_USER" /NICNAME:VPN
	sv_vpncmd "$r" localhost /CLIENT AccountPasswordSet ref "/PASSWORD:$SV_PASS" /TYPE:standard
	sv_vpncmd "$r" localhost /CLIENT AccountDetailSet ref /MAXTCP:1 /INTERVAL:1 /TTL:0 /HALF:no \
		/BRIDGE:no /MONITOR:no /NOTRACK:no /NOQOS:yes /DISABLEUDP:yes
	sv_vpncmd "$r" localhost /CLIENT AccountConnect ref
	sv_wait_until 20 "the official client's session" sv_vpnclient_established
	sv_wait_until 10 "the TAP NIC vpn_vpn" ip -n "$SV_NS_CLI" link show vpn_vpn
	ip -n "$SV_NS_CLI" link set vpn_vpn up
	local f
	for f in "$r"/run/.pid_*; do SV_VCL_WORKER=$(tr -dc 0-9 <"$f"); done
	if command -v busybox >/dev/null 2>&1; then
		cat >"$r/udhcpc.sh" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface" scope global
	ip addr add "$ip/${mask:-24}" dev "$interface"
	echo "$ip" >"$0.lease"
	;;
esac
exit 0
EOF
		chmod 755 "$r/udhcpc.sh"
		ip netns exec "$SV_NS_CLI" timeout 30 busybox udhcpc -i vpn_vpn -s "$r/udhcpc.sh" \
			-q -n -f -t 10 -T 1 >"$r/udhcpc.log" 2>&1 || {
			cat "$r/udhcpc.log" >&2
			sv_fail "the official client got no DHCP lease"
		}
		SV_VCL_IP=$(cat "$r/udhcpc.sh.lease")
	else
		SV_VCL_IP=10.77.0.99
		ip -n "$SV_NS_CLI" addr add "$SV_VCL_IP/24" dev vpn_vpn
	fi
	sv_log "official vpnclient up: worker pid $SV_VCL_WORKER, vpn_vpn $SV_VCL_IP"
}

sv_vpnclient_established() {
	sv_vpncmd_try "$SV_ROOT/vcl" localhost /CLIENT AccountStatusGet ref &&
		printf '%s\n' "$SV_VPNCMD_OUT" | grep -q 'Session Status .*|Connection Completed'
}

# sv_kill_tunnel WHY: destroys the client's established tunnel TCP connection(s) to the
# server from the CLI namespace (ss -K), so the server sees an abrupt loss.
sv_kill_tunnel() {
	local n
	n=$(ip netns exec "$SV_NS_CLI" ss -Htn state established dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" | wc -l)
	[ "$n" -ge 1 ] || sv_fail "no established tunnel connection to kill"
	# (ss -K also prints "RTNETLINK answers: Invalid argument" for sockets it skips)
	ip netns exec "$SV_NS_CLI" ss -K dst "$SV_SRV_IP" dport = "$SV_SRV_PORT" >/dev/null 2>&1
	sv_log "tunnel connection destroyed ($1)"
}
