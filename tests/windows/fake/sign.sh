#!/bin/sh
# Signs the stand-in wintun.dll with a throwaway self-signed code-signing certificate
# ("weft test signer"), for the test that a validly signed DLL from anyone but WireGuard LLC
# is refused. Writes the signed DLL and the certificate (DER, for the test to trust it).
#   sign.sh IN.dll OUT.dll OUT.der
set -eu
in=$1
out=$2
der=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
	-days 3650 -subj "/CN=weft test signer/O=weft" \
	-addext extendedKeyUsage=codeSigning 2>/dev/null
openssl x509 -in "$dir/cert.pem" -outform DER -out "$der"
rm -f "$out"
osslsigncode sign -certs "$dir/cert.pem" -key "$dir/key.pem" -n wintun -in "$in" -out "$out" \
	>/dev/null
