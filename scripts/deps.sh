#!/usr/bin/env bash
# Installs every Debian package keyward's build, tests, fuzzers and benchmarks need (idempotent).
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format-14
  libevent-dev libssl-dev libre2-dev libyaml-cpp-dev libjemalloc-dev libsimdjson-dev libhiredis-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server redis-tools openssl ca-certificates curl python3 time python3-prometheus-client
  python3-yaml
  chromium nginx
)
# chromium (headless) runs the browser test through playwright-core; never `playwright install`.
# Node.js with npm drives the @upstash/redis end-to-end suite; a nodesource nodejs already bundles npm.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's redis-server and nginx packages start system instances; the tests and bench/rest_load.sh
# start their own on free ports.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
  systemctl disable --now nginx >/dev/null 2>&1 || true
fi
