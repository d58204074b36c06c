#!/bin/sh
# Regenerates the TLS test certificates used by tests/test_tls.c (OpenSSL 3).
# Run from this directory. The outputs are committed; the tests never run this.
#   ca.pem / ca.der          RSA-2048 CA "sevpn-proxy test CA" (CA:TRUE)
#   leaf.der, leaf.key.der   RSA-2048 server cert signed by the CA:
#                            CN=vpn.test, SAN DNS:vpn.test, IP:127.0.0.1, IP:::1
#   self.pem / self.der,     RSA-2048 self-signed server cert like SoftEther's default
#   self.key.der             (CN=selfsigned.test, CA:TRUE, no SAN)
# Validity: 100 years from the day they were made. Keys are test-only.
set -eu
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key.pem -out ca.pem -days $days \
	-subj "/CN=sevpn-proxy test CA" -sha256 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey rsa:2048 -nodes -keyout leaf.key.pem -out leaf.csr -subj "/CN=vpn.test"
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
	"extendedKeyUsage=serverAuth" "subjectAltName=DNS:vpn.test,IP:127.0.0.1,IP:::1" > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key.pem -set_serial 2 -days $days \
	-sha256 -extfile leaf.ext -out leaf.pem
openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key.pem -out self.pem -days $days \
	-subj "/CN=selfsigned.test/O=selfsigned.test/C=US" -sha256 \
	-addext "basicConstraints=critical,CA:TRUE"
for n in ca leaf self; do openssl x509 -in $n.pem -outform DER -out $n.der; done
for n in leaf self; do openssl pkcs8 -topk8 -nocrypt -in $n.key.pem -outform DER -out $n.key.der; done
rm -f ca.key.pem leaf.key.pem self.key.pem leaf.csr leaf.ext leaf.pem
# SHA-256 pins as openssl prints them (the tests compare against these)
for n in leaf self; do openssl x509 -in $n.der -inform DER -noout -fingerprint -sha256; done
