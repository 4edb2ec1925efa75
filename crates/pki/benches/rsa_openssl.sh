#!/usr/bin/env bash
# RSA private-key operations, ours against OpenSSL's, in one run on the same machine. For each
# of RSA-2048, 3072 and 4096, interleaved so that load from elsewhere hits both sides alike:
#   1. `openssl speed -seconds 3 rsaN` (in-process sign/s; OpenSSL 3.0's speed has no decrypt
#      column, and an RSA decryption is the same private-key operation as a signature, so its
#      sign/s is the baseline for both of ours)
#   2. `cargo bench -p pki --bench rsa -- rsaN` (PKCS#1 v1.5 sign with SHA-256, PKCS#1 v1.5
#      decrypt of a 32-octet key)
#   3. `openssl speed -seconds 3 rsaN` again; the baseline is the mean of the two runs.
# Prints ops/s for each and the ratio ours / OpenSSL (the goal is >= 0.95).
# Usage: bash crates/pki/benches/rsa_openssl.sh   (from anywhere in the workspace)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
speed() { openssl speed -seconds 3 "$1" 2>/dev/null | grep -E '^rsa +[0-9]+ bits'; }
cd "$here/.."
cargo bench -q -p pki --bench rsa --no-run 2>/dev/null
for bits in 2048 3072 4096; do
  speed "rsa$bits" >> "$w/openssl1.txt"
  cargo bench -q -p pki --bench rsa -- "rsa$bits" 2>/dev/null | tee -a "$w/ours.txt"
  speed "rsa$bits" >> "$w/openssl2.txt"
done
python3 - "$w" <<'PY'
import re, sys
w = sys.argv[1]
scale = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6}
ours, name = {}, None
for line in open(f"{w}/ours.txt"):
    m = re.match(r"^rsa/(\S+ rsa\d+ \S+)", line)
    if m:
        name = m.group(1)
    m = re.search(r"thrpt:\s+\[\S+\s+\S+\s+(\S+)\s+(\S+)", line)
    if m and name:
        ours[name] = float(m.group(1)) * scale[m.group(2)]
def openssl(path):
    r = {}
    for line in open(path):
        f = line.split()
        r[int(f[1])] = float(f[5])  # rsa BITS bits sign verify sign/s verify/s
    return r
a, b = openssl(f"{w}/openssl1.txt"), openssl(f"{w}/openssl2.txt")
print()
print(f"{'operation':<28}{'ours/s':>10}{'openssl/s':>11}{'ratio':>8}")
for bits in (2048, 3072, 4096):
    base = (a[bits] + b[bits]) / 2
    for op in (f"sign rsa{bits} sha256", f"decrypt rsa{bits} pkcs1v15"):
        if op in ours:
            print(f"{op:<28}{ours[op]:>10.0f}{base:>11.0f}{ours[op] / base:>8.2f}")
print(f"(openssl speed sign/s, run 1 / run 2: "
      + ", ".join(f"rsa{k} {a[k]:.0f}/{b[k]:.0f}" for k in sorted(a)) + ")")
PY
