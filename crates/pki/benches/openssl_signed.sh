#!/usr/bin/env bash
# OpenSSL baseline for benches/signed.rs, on the same machine and content:
#   openssl cms -sign   -md sha256 -nodetach -binary -outform DER   (4 KiB and 1 MiB)
#   openssl cms -verify -binary -inform DER -noverify                (signature only, no chain:
#                                                                     like pki::signed::check),
#   once as is and once with -no-CAfile -no-CApath -no-CAstore (OpenSSL loads the system CA
#   store even with -noverify, which costs tens of milliseconds)
# Times include process start-up (as a script calling OpenSSL would pay it); the last lines
# print `openssl speed` figures for the in-process cost of the same primitives.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
keys="$here/../../../keys"
runs=${RUNS:-30}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cd "$w"
now() { date +%s.%N; }
per() { echo "scale=3; ($2 - $1) * 1000 / $3" | bc; }

openssl req -x509 -new -key "$keys/alice-sign.key.pem" -subj "/CN=Alice/O=Bench" -days 30 \
  -addext "keyUsage=critical,digitalSignature,nonRepudiation" \
  -addext "extendedKeyUsage=emailProtection" -out alice.pem 2>/dev/null
line='The quick brown fox jumps over the lazy dog 0123456789\r\n'
for size in 4096 1048576; do
  python3 -c "import sys; l=b'${line}'.decode('unicode_escape').encode(); n=$size; sys.stdout.buffer.write((l*(n//len(l)+1))[:n])" > m$size
  t0=$(now)
  for _ in $(seq "$runs"); do
    openssl cms -sign -md sha256 -nodetach -binary -signer alice.pem \
      -inkey "$keys/alice-sign.key.pem" -in m$size -outform DER -out s$size.der
  done
  t1=$(now); echo "openssl cms -sign   $size bytes: $(per "$t0" "$t1" "$runs") ms each"
  t0=$(now)
  for _ in $(seq "$runs"); do
    openssl cms -verify -binary -noverify -inform DER -in s$size.der -out /dev/null 2>/dev/null
  done
  t1=$(now); echo "openssl cms -verify $size bytes: $(per "$t0" "$t1" "$runs") ms each"
  # The same without loading the system CA store (which -noverify still does).
  t0=$(now)
  for _ in $(seq "$runs"); do
    openssl cms -verify -binary -noverify -no-CAfile -no-CApath -no-CAstore -inform DER \
      -in s$size.der -out /dev/null 2>/dev/null
  done
  t1=$(now); echo "openssl cms -verify $size bytes, no CA store: $(per "$t0" "$t1" "$runs") ms each"
done
t0=$(now); for _ in $(seq "$runs"); do openssl version >/dev/null; done; t1=$(now)
echo "openssl process start (openssl version): $(per "$t0" "$t1" "$runs") ms each"
openssl speed -seconds 2 rsa2048 2>/dev/null | grep -E '^rsa 2048' | awk '{print "openssl speed rsa2048: " $6 " sign/s, " $7 " verify/s"}'
openssl speed -seconds 2 -bytes 16384 sha256 2>/dev/null | tail -1 | awk '{print "openssl speed sha256 (16 KiB blocks): " $2}'
