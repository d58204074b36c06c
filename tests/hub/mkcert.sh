#!/bin/sh
# mkcert.sh DIR: makes a self-signed RSA-2048 certificate for the test hub in DIR
# (DIR/hub.crt, DIR/hub.key; the key is readable by its owner only) and prints the
# certificate's SHA-256 fingerprint (64 hex digits, what sevpn-proxy --pin takes).
set -eu
dir=${1:?usage: mkcert.sh DIR}
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
	-subj "/CN=sevpn-testhub" \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$dir/hub.key" -out "$dir/hub.crt" >/dev/null 2>&1 || {
	echo "mkcert.sh: openssl could not make a certificate" >&2
	exit 1
}
chmod 644 "$dir/hub.crt"
openssl x509 -in "$dir/hub.crt" -outform DER | sha256sum | cut -d' ' -f1
