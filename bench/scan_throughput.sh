#!/usr/bin/env bash
# `keyward scan` throughput and memory on a 200 MB one-line bundle (bench/scan_bundle.mjs: real
# third-party JavaScript with base64 images and 40 planted credentials), and on 200 MB of
# base64 text alone (the worst case for the Upstash-token trigger). ROUNDS runs each (default
# 3); prints MB/s, maximum RSS and findings per run. Never a CI gate.
#   [KEYWARD_BIN=/path/to/keyward] bench/scan_throughput.sh [SIZE_MB=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200} rounds=${2:-3} planted=40
bin=${KEYWARD_BIN:-$(bash scripts/build-release.sh | tail -1)}
source bench/lib.sh
node bench/scan_bundle.mjs "$size" "$work/bundle.js" "$planted"
node bench/scan_bundle.mjs "$size" "$work/images.css" 0 --base64-only
for input in bundle.js images.css; do
  bytes=$(stat -c %s "$work/$input")
  for r in $(seq "$rounds"); do
    set +e
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" scan --format json "$work/$input" >"$work/out.json"
    rc=$?
    set -e
    [[ $rc == 0 || $rc == 1 ]] || { echo "scan failed ($rc)" >&2; exit 1; }
    read -r secs rss_kb < <(tail -1 "$work/time")
    found=$(grep -c '"kind"' "$work/out.json" || true)
    awk -v n="$input" -v b="$bytes" -v s="$secs" -v m="$rss_kb" -v f="$found" \
      'BEGIN { printf "%-10s %6.0f MB  %6.2f s  %7.1f MB/s  max RSS %6.1f MiB  %d findings\n", n, b/1e6, s, b/1e6/s, m/1024, f }'
  done
done
