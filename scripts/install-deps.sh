#!/bin/sh
# Install the Debian packages sevpn-proxy needs to build, test and run its demo.
# Usage: scripts/install-deps.sh [--integration]
#   --integration  also the real SoftEther server, the tools of the namespace test LAN
#                  and openssh-server (tests/cli/stdio_ssh_test.sh runs an sshd of its own).
# Runs apt-get through sudo when not root. Never leaves a system-wide SoftEther server or
# sshd running: service start-up is suppressed during the install (see shared traps.md).
set -eu

pkgs="build-essential cmake pkg-config xz-utils ca-certificates openssl curl python3
libuv1-dev libbearssl-dev libcmocka-dev libslirp-dev zlib1g-dev libglib2.0-dev
clang-14 libclang-rt-14-dev"
integ="softether-vpnserver softether-vpncmd softether-vpnclient iproute2 dnsmasq-base
util-linux procps ethtool busybox iperf3 gnuplot-nox openssh-server"
[ "${1:-}" = "--integration" ] && pkgs="$pkgs $integ"

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing" >&2
$SUDO apt-get update -q >/dev/null
# A policy-rc.d that refuses every service start keeps the vpnserver package from
# starting a world-reachable server with no admin password during installation.
policy=/usr/sbin/policy-rc.d
placed=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	placed=1
fi
rc=0
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null || rc=$?
[ -n "$placed" ] && $SUDO rm -f "$policy"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	for s in softether-vpnserver softether-vpnclient softether-vpnbridge ssh ssh.socket; do
		$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
	done
fi
exit $rc
