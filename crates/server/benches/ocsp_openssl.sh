#!/usr/bin/env bash
# OpenSSL baseline for benches/ocsp.rs, measured in the same run by the same client:
# sets up OpenSSL's own OCSP responder (`openssl ocsp -index index.txt -port P -rsigner ...
# -CA ...`, a CA from keys/ca-3072.key.pem, a delegated responder certificate, one good
# certificate in index.txt; one process: `-multi` exits at once with OpenSSL 3.0 here), checks it answers
# `good` to `openssl ocsp`, then runs `cargo bench -p kmsd --bench ocsp` with
# OCSP_OPENSSL_URL and OCSP_OPENSSL_REQUEST set: the bench prints kmsd's cached answers/s,
# OpenSSL's answers/s (it signs every answer; it closes the connection after each) and the
# ratio. Extra arguments go to the bench (e.g. `-- --measurement-time 2 --warm-up-time 1`).
#
# Usage: bash crates/server/benches/ocsp_openssl.sh [BENCH ARGS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root="$here/../../.."
keys="$root/keys"
w=$(mktemp -d)
responder=""
cleanup() {
  if [ -n "$responder" ]; then kill -- "-$responder" 2>/dev/null || true; fi
  rm -rf "$w"
}
trap cleanup EXIT
cd "$w"

openssl req -x509 -new -key "$keys/ca-3072.key.pem" -subj "/CN=Bench CA/O=Example" -days 30 \
  -sha256 -out ca.pem 2>/dev/null
openssl req -new -key "$keys/spare-1.key.pem" -subj "/CN=Bench OCSP responder" -out r.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n' > r.cnf
openssl x509 -req -in r.csr -CA ca.pem -CAkey "$keys/ca-3072.key.pem" -set_serial 0x01 -days 30 \
  -sha256 -extfile r.cnf -out resp.pem 2>/dev/null
openssl req -new -key "$keys/alice-sign.key.pem" -subj "/CN=alice" -out a.csr 2>/dev/null
openssl x509 -req -in a.csr -CA ca.pem -CAkey "$keys/ca-3072.key.pem" \
  -set_serial "0x$(openssl rand -hex 16)" -days 30 -sha256 -out alice.pem 2>/dev/null
serial=$(openssl x509 -in alice.pem -noout -serial | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t/CN=alice\n' "$(date -u -d '+30 days' +%y%m%d%H%M%SZ)" "$serial" > index.txt
openssl ocsp -issuer ca.pem -cert alice.pem -no_nonce -reqout req.der >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid openssl ocsp -index index.txt -port "$port" -rsigner resp.pem -rkey "$keys/spare-1.key.pem" \
  -CA ca.pem -nmin 60 -ignore_err >responder.log 2>&1 &
responder=$!
for _ in $(seq 100); do
  said=$(openssl ocsp -issuer ca.pem -cert alice.pem -url "http://127.0.0.1:$port" -CAfile ca.pem \
      -no_nonce 2>/dev/null || true)
  case "$said" in *": good"*) ok=1; break ;; esac
  sleep 0.1
done
[ "${ok:-}" = 1 ] || { echo "openssl ocsp responder did not answer good:"; cat responder.log; exit 1; }

cd "$root"
OCSP_OPENSSL_URL="http://127.0.0.1:$port/" OCSP_OPENSSL_REQUEST="$w/req.der" \
  cargo bench -p kmsd --bench ocsp "$@"
