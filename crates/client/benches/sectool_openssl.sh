#!/usr/bin/env bash
# OpenSSL baseline for benches/sectool.rs: re-encrypt the same stored messages with a shell loop
# of `openssl cms -decrypt | openssl cms -encrypt -aes256` (one pair of processes per message,
# as a script would do it), and print messages per second.
#
# Usage: bash sectool_openssl.sh CORPUS_DIR [N]
#   CORPUS_DIR is what `cargo bench -p client --bench sectool` left (SECTOOL_BENCH_KEEP=DIR):
#   src/*.eml, alice-enc-old.pem/.key (the key the corpus is encrypted for), alice-enc.pem
#   (the new recipient). N limits the number of messages (default: all).
# The loop runs one message at a time, like a naive script; `xargs -P` parallelism would
# divide the time by at most the number of cores.
set -euo pipefail
dir=$1; n=${2:-0}
P="-provider legacy -provider default"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
mapfile -t files < <(ls "$dir"/src/ | grep '\.eml$')
if [ "$n" -gt 0 ] && [ "$n" -lt "${#files[@]}" ]; then files=("${files[@]:0:$n}"); fi
count=${#files[@]}
t0=$(date +%s%N)
for name in "${files[@]}"; do
  f="$dir/src/$name"
  openssl cms -decrypt $P -in "$f" -recip "$dir/alice-enc-old.pem" -inkey "$dir/alice-enc-old.key" \
    | openssl cms -encrypt -aes256 -out "$out/$(basename "$f")" "$dir/alice-enc.pem"
done
t=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "openssl loop: $count messages in ${t} ms: $(echo "scale=1; $count * 1000 / $t" | bc) msgs/s"
