#!/bin/sh
# ctest entry for the end-to-end suites: fails (never skips) when a required tool is missing,
# then runs tests/e2e/run.mjs (certificates, NODE_EXTRA_CA_CERTS, node --test).
set -eu
for tool in node redis-server openssl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "e2e: required tool not found on PATH: $tool" >&2
    exit 1
  fi
done
if [ -z "${KEYWARD_BIN:-}" ] || [ ! -x "$KEYWARD_BIN" ]; then
  echo "e2e: KEYWARD_BIN is not an executable file: ${KEYWARD_BIN:-<unset>}" >&2
  exit 1
fi
exec node "$(dirname "$0")/../e2e/run.mjs" "$@"
