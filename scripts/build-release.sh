#!/usr/bin/env bash
# Release build of the keyward binary: the Dockerfile's build stage runs exactly this, and the
# test command runs it too so CI exercises the container build steps without a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KW_RELEASE_DIR:-build/release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
  -DKW_BUILD_TESTS=OFF -DKW_FUZZ_REPLAY=OFF -DKW_WITH_JEMALLOC=ON >/dev/null
cmake --build "$build" --target keyward -j"$(nproc)" >&2
"$build/proxy/keyward" version >/dev/null
echo "$(cd "$build" && pwd)/proxy/keyward"
