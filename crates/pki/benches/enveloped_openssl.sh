#!/usr/bin/env bash
# OpenSSL baseline for benches/enveloped.rs, on the same machine:
#   1. raw cipher rates: `openssl speed -evp <cipher> -bytes 16384` (legacy provider for DES,
#      CAST5 and RC2), printed in MB/s (10^6 bytes/s, as openssl speed reports them);
#   2. `openssl cms -encrypt` and `-decrypt` of a 1 MiB file for one RSA-2048 recipient
#      (alice-enc), best and mean wall time over N runs, process start-up included, as a
#      script calling OpenSSL would pay it.
# Usage: bash enveloped_openssl.sh [runs]   (default 10)
set -euo pipefail
runs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
keys="$here/../../../keys"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cd "$w"
P="-provider legacy -provider default"
openssl version

echo "== openssl speed -evp (16 KiB blocks, 2 s each), MB/s"
for c in aes-128-gcm aes-256-gcm aes-128-cbc aes-192-cbc aes-256-cbc des-ede3-cbc des-cbc \
         cast5-cbc rc2-cbc rc2-40-cbc rc2-64-cbc; do
  prov=""; case $c in des-cbc|cast5-cbc|rc2*) prov=$P;; esac
  for dir in "" "-decrypt"; do
    r=$(openssl speed $prov -seconds 2 -bytes 16384 $dir -evp $c 2>/dev/null | tail -1 | awk '{print $NF}')
    # openssl speed prints thousands of bytes per second ("123456.78k").
    mbs=$(echo "$r" | tr -d k | awk '{printf "%.1f", $1/1000}')
    echo "speed $c ${dir:--encrypt}: $mbs MB/s"
  done
done

echo "== openssl cms, 1 MiB, one recipient (RSA-2048, PKCS#1 v1.5), $runs runs"
openssl req -x509 -new -key "$keys/alice-enc.key.pem" -subj /CN=alice -days 30 -out alice.pem 2>/dev/null
head -c 1048576 /dev/urandom > in.bin
now() { date +%s%N; }
for c in aes-256-gcm aes-128-gcm aes-256-cbc aes-192-cbc aes-128-cbc des3 cast5-cbc rc2-cbc rc2-64-cbc des rc2-40-cbc; do
  prov=""; case $c in des|cast5-cbc|rc2*) prov=$P;; esac
  for op in encrypt decrypt; do
    best=""; sum=0
    for i in $(seq "$runs"); do
      t0=$(now)
      if [ $op = encrypt ]; then
        openssl cms -encrypt $prov -$c -binary -in in.bin -outform DER -out m.der alice.pem
      else
        openssl cms -decrypt $prov -binary -inform DER -in m.der -recip alice.pem \
          -inkey "$keys/alice-enc.key.pem" -out out.bin
      fi
      t=$(( ($(now) - t0) / 1000 ))
      sum=$((sum + t)); if [ -z "$best" ] || [ $t -lt $best ]; then best=$t; fi
    done
    [ $op = decrypt ] && cmp -s in.bin out.bin
    echo "cms $op $c: best $(echo "scale=2; $best/1000" | bc) ms, mean $(echo "scale=2; $sum/$runs/1000" | bc) ms"
  done
done
# The process start-up alone, to subtract when comparing with in-process figures.
best=""
for i in $(seq "$runs"); do
  t0=$(now); openssl version >/dev/null; t=$(( ($(now) - t0) / 1000 ))
  if [ -z "$best" ] || [ $t -lt $best ]; then best=$t; fi
done
echo "openssl version (start-up only): best $(echo "scale=2; $best/1000" | bc) ms"
