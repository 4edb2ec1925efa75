#!/usr/bin/env bash
# OpenSSL's figures for the revoke benchmark, run by it in the same process and run:
#   1. read the CRL of 1 000 000 entries the benchmark built (argument 1, DER):
#      `openssl crl -noout` (parse) and `-text` (every entry printed)
#   2. build and sign a CRL of 1 000 000 entries: `openssl ca -gencrl` over a 1 000 000-line
#      index, with the same RSA-4096 CA key
# Times include process start-up. Prints one line per figure.
set -euo pipefail
crl=${1:?usage: revoke_openssl.sh CRL.der}
here=$(cd "$(dirname "$0")" && pwd)
keys="$here/../../../keys"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
now() { date +%s.%N; }
ms() { echo "scale=1; ($2 - $1) * 1000 / 1" | bc; }

t0=$(now); openssl crl -inform DER -in "$crl" -noout; t1=$(now)
echo "openssl crl -noout of the 1000000-entry CRL: $(ms "$t0" "$t1") ms"
t0=$(now); n=$(openssl crl -inform DER -in "$crl" -noout -text | grep -c 'Serial Number:'); t1=$(now)
echo "openssl crl -noout -text of it: $(ms "$t0" "$t1") ms ($n entries)"

cd "$w"
openssl req -x509 -new -key "$keys/ca2-4096.key.pem" -subj /CN=Bench -days 30 -out ca.pem 2>/dev/null
printf '[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=7\npolicy=p\n[p]\ncommonName=supplied\n' > ca.cnf
python3 - <<'PY'
with open("index.txt", "w") as f:
    for i in range(1_000_000):
        f.write("R\t270101000000Z\t231114221320Z,keyCompromise\t7%05X%032X\tunknown\t/CN=u%d\n" % (3, i, i))
PY
echo 01 > crlnumber; echo 01 > serial
t0=$(now)
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile "$keys/ca2-4096.key.pem" -gencrl -out crl.pem 2>/dev/null
t1=$(now); echo "openssl ca -gencrl of 1000000 entries (RSA-4096): $(ms "$t0" "$t1") ms"
