#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, builds with ASan+UBSan, runs every
# test (unit, decision tables, differential vs redis-server, fuzz corpora, SDK end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if [ -f tests/e2e/package-lock.json ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
# The Dockerfile's build step, so CI proves the container build works without a Docker engine.
release_bin=$(bash scripts/build-release.sh)
# ThreadSanitizer build of the binary and the unit tests the multi-worker suites run against.
tsan_dir=$(bash scripts/build-tsan.sh)
build=build/asan
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++-14 \
  -DKW_SANITIZERS=address,undefined -DKW_FUZZ_REPLAY=ON -DKW_RELEASE_BIN="$release_bin" \
  -DKW_TSAN_DIR="$tsan_dir" >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600
