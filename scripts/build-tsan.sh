#!/usr/bin/env bash
# ThreadSanitizer build of what runs on several threads at once (README, Workers): the keyward
# binary and the unit tests of the state workers share. The test command runs the worker suites
# against it (tests/integration/CMakeLists.txt, label tsan). Prints the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KW_TSAN_DIR:-build/tsan}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DKW_SANITIZERS=thread -DKW_WITH_JEMALLOC=OFF -DKW_FUZZ_REPLAY=OFF >/dev/null
cmake --build "$build" --target keyward kw_workers_tests kw_router_tests -j"$(nproc)" >&2
echo "$(cd "$build" && pwd)"
