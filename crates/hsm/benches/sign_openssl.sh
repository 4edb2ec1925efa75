#!/usr/bin/env bash
# Signatures per second with the CA key in SoftHSM against the software key, beside OpenSSL,
# in one run on the same machine:
#   1. `openssl speed -seconds 3 rsa3072 rsa4096`, alone and with `-multi 4`
#   2. `cargo bench -p hsm --bench sign` (RSA-3072/4096 PKCS#1 v1.5 SHA-256 of a 1 KiB
#      message: SoftHSM through TokenKey's pool, and pki::PrivateKey on aws-lc-rs; 1 and 4
#      threads)
#   3. `openssl speed` again; the baseline is the mean of the two runs
#   4. `pkcs11-tool --sign` against a SoftHSM RSA-3072 key, 20 times: the cost of one
#      signature from a fresh process (load the module, log in, sign), for reference
# Prints signatures/s and the ratios to OpenSSL.
# Usage: bash crates/hsm/benches/sign_openssl.sh   (from anywhere in the workspace; needs
# softhsm2 and opensc: apt-get install softhsm2 opensc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
speed() { openssl speed -seconds 3 "$@" rsa3072 rsa4096 2>/dev/null | grep -E '^rsa +[0-9]+ bits'; }
cd "$here/.."
cargo bench -q -p hsm --bench sign --no-run 2>/dev/null
speed > "$w/openssl1.txt"
speed -multi 4 > "$w/openssl1m.txt"
cargo bench -q -p hsm --bench sign 2>/dev/null | tee "$w/ours.txt"
speed > "$w/openssl2.txt"
speed -multi 4 > "$w/openssl2m.txt"

# pkcs11-tool --sign from a fresh process each time.
module=/usr/lib/softhsm/libsofthsm2.so
mkdir "$w/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$w" > "$w/softhsm2.conf"
export SOFTHSM2_CONF="$w/softhsm2.conf"
softhsm2-util --init-token --free --label ref --so-pin 12345678 --pin 87654321 >/dev/null
p11() { pkcs11-tool --module "$module" --token-label ref --login --pin 87654321 "$@"; }
p11 --keypairgen --key-type rsa:3072 --label ref --usage-sign >/dev/null 2>&1
head -c 1024 /dev/zero > "$w/msg"
start=$(date +%s.%N)
for _ in $(seq 20); do
  p11 --sign -m SHA256-RSA-PKCS --label ref -i "$w/msg" -o "$w/sig" >/dev/null 2>&1
done
end=$(date +%s.%N)
echo "pkcs11-tool --sign rsa3072: $(python3 -c "print(f'{($end - $start) / 20 * 1000:.1f}')") ms per process (20 runs)" > "$w/p11.txt"

python3 - "$w" <<'PY'
import re, sys
w = sys.argv[1]
scale = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6}
ours, name = {}, None
for line in open(f"{w}/ours.txt"):
    m = re.match(r"^sign/(\S+ rsa\d+ \d+ threads)", line)
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
single = [openssl(f"{w}/openssl1.txt"), openssl(f"{w}/openssl2.txt")]
multi = [openssl(f"{w}/openssl1m.txt"), openssl(f"{w}/openssl2m.txt")]
print()
print(f"{'rsa threads':<14}{'softhsm/s':>10}{'software/s':>11}{'openssl/s':>10}{'hsm/sw':>8}{'hsm/ossl':>9}")
for bits in (3072, 4096):
    for threads, runs in ((1, single), (4, multi)):
        base = sum(r[bits] for r in runs) / len(runs)
        h = ours.get(f"softhsm rsa{bits} {threads} threads", float("nan"))
        s = ours.get(f"software rsa{bits} {threads} threads", float("nan"))
        print(f"{f'rsa{bits} x{threads}':<14}{h:>10.0f}{s:>11.0f}{base:>10.0f}{h / s:>8.2f}{h / base:>9.2f}")
print("(openssl speed sign/s, run 1 / run 2: "
      + ", ".join(f"rsa{k} {single[0][k]:.0f}/{single[1][k]:.0f}, -multi 4 {multi[0][k]:.0f}/{multi[1][k]:.0f}"
                  for k in sorted(single[0])) + ")")
print(open(f"{w}/p11.txt").read().strip())
PY
