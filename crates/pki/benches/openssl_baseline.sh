#!/usr/bin/env bash
# OpenSSL baseline for the pki benchmarks, on the same machine and in the same run:
#   1. issue one certificate from an existing key (openssl x509 -req, CA RSA-3072, SHA-256)
#   2. build and sign a CRL of 100 000 entries (openssl ca -gencrl over a 100 000-line index)
#   3. RSA-2048 key generation (openssl genpkey)
# Times include process start-up, as a script calling OpenSSL would pay it; `openssl speed`
# gives the in-process RSA sign rate for comparison. Prints one line per figure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
keys="$here/../../../keys"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cd "$w"
now() { date +%s.%N; }
per() { echo "scale=3; ($2 - $1) * 1000 / $3" | bc; }

openssl req -x509 -new -key "$keys/ca-3072.key.pem" -subj /CN=Bench -days 30 -out ca.pem 2>/dev/null
openssl req -new -key "$keys/alice-enc.key.pem" -subj /CN=alice -out a.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment,dataEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:alice@example.test\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\ncrlDistributionPoints=URI:http://ca.example.test/crl\n' > ext.cnf
n=50; t0=$(now)
for i in $(seq $n); do
  openssl x509 -req -in a.csr -CA ca.pem -CAkey "$keys/ca-3072.key.pem" -set_serial "0x$(openssl rand -hex 19)" -days 365 -sha256 -extfile ext.cnf -out c.pem 2>/dev/null
done
t1=$(now); echo "openssl issue certificate: $(per "$t0" "$t1" $n) ms each (process per certificate)"

printf '[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=7\npolicy=p\n[p]\ncommonName=supplied\n' > ca.cnf
python3 - <<'PY'
with open("index.txt", "w") as f:
    for i in range(100_000):
        f.write("R\t270101000000Z\t260101000000Z,keyCompromise\t%040X\tunknown\t/CN=u%d\n" % (0x4a << 150 | i, i))
PY
echo 01 > crlnumber; echo 01 > serial
t0=$(now)
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile "$keys/ca-3072.key.pem" -gencrl -out crl.pem 2>/dev/null
t1=$(now); echo "openssl CRL of 100000 entries: $(per "$t0" "$t1" 1) ms"

n=20; t0=$(now)
for i in $(seq $n); do openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k.pem 2>/dev/null; done
t1=$(now); echo "openssl RSA-2048 keygen: $(per "$t0" "$t1" $n) ms each"
openssl speed -seconds 3 rsa3072 2>/dev/null | grep -E '^rsa 3072' | awk '{print "openssl speed rsa3072: " $6 " sign/s"}'
