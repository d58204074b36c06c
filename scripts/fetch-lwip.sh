#!/bin/sh
# Fetch lwIP 2.1.3 from Debian's source package, check its SHA-256 and unpack it into a
# cache outside the source tree. Prints the path of the unpacked tree on stdout.
#
# /etc/apt is never changed: a throw-away deb-src list (built from the machine's own
# bookworm sources) and throw-away state/cache directories are passed to apt-get with -o.
# Usage: scripts/fetch-lwip.sh [CACHE_DIR]   (default: ${XDG_CACHE_HOME:-~/.cache}/sevpn-proxy)
set -eu

SHA256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
TARBALL=lwip_2.1.3+dfsg1.orig.tar.xz
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/sevpn-proxy}
tree="$cache/lwip-2.1.3"

if [ -f "$tree/src/core/tcp.c" ] && [ -f "$tree/.sevpn-verified" ]; then
	echo "$tree"
	exit 0
fi
mkdir -p "$cache"

if ! echo "$SHA256  $cache/$TARBALL" | sha256sum -c - >/dev/null 2>&1; then
	w=$(mktemp -d)
	trap 'rm -rf "$w"' EXIT
	chmod 755 "$w"
	# The deb-src entry: the URIs of the machine's own Debian sources, suite bookworm
	# (the release whose lwIP tarball has the hash above).
	uri=
	for f in /etc/apt/sources.list.d/debian.sources; do
		[ -r "$f" ] && uri=$(awk '/^URIs:/ { print $2; exit }' "$f")
	done
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $2 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	if [ -z "$uri" ]; then
		echo "fetch-lwip: cannot find a Debian mirror in /etc/apt; fetch lwIP 2.1.x yourself and pass -DSV_LWIP_DIR=/path/to/lwip" >&2
		exit 1
	fi
	printf 'deb-src %s bookworm main\n' "$uri" >"$w/src.list"
	mkdir -p "$w/lists/partial" "$w/cache/archives/partial"
	set -- -o "Dir::Etc::SourceList=$w/src.list" -o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State::Lists=$w/lists" -o "Dir::Cache=$w/cache" \
		-o APT::Sandbox::User="$(id -un)"
	apt-get -q "$@" update >/dev/null
	(cd "$w" && apt-get -q "$@" --download-only source lwip >/dev/null)
	if ! echo "$SHA256  $w/$TARBALL" | sha256sum -c - >/dev/null 2>&1; then
		echo "fetch-lwip: $TARBALL does not have the expected SHA-256 ($SHA256)." >&2
		echo "fetch-lwip: refusing to build with it; pass -DSV_LWIP_DIR=/path/to/lwip-2.1.x to use your own tree" >&2
		exit 1
	fi
	mv "$w/$TARBALL" "$cache/$TARBALL"
fi
rm -rf "$tree"
tar -xJf "$cache/$TARBALL" -C "$cache"
touch "$tree/.sevpn-verified"
echo "$tree"
