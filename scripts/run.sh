#!/usr/bin/env bash
# Quick start (README #1): build keyward, start a local redis-server, make demo keys and a dev
# certificate, and run keyward in the foreground. Idempotent; Ctrl-C stops keyward and redis.
# Knobs (for tests): KEYWARD_BIN=path skips the build, KW_RUN_DIR=dir replaces .run/,
# KW_SKIP_DEPS=1 skips scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="${KW_RUN_DIR:-$root/.run}"
cacert=".run/ca.crt"
[ -n "${KW_RUN_DIR:-}" ] && cacert="$run/ca.crt"

if [ -n "${KW_SKIP_DEPS:-}" ]; then
  :
elif [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh
else
  echo "run.sh: not root, skipping scripts/deps.sh (run it once as root on a fresh machine)" >&2
fi
for tool in cmake ninja clang++-14 openssl redis-server python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool not found (run scripts/deps.sh as root)" >&2; exit 1; }
done

# 1. Release build (jemalloc) into build/release.
if [ -n "${KEYWARD_BIN:-}" ]; then
  kw="$KEYWARD_BIN"
else
  kw="$(bash scripts/build-release.sh | tail -1)"
fi
"$kw" version

mkdir -p "$run"
chmod 700 "$run"

# 2. A dev CA and a server certificate for localhost / 127.0.0.1 (reused when present).
if [ ! -s "$run/ca.crt" ] || [ ! -s "$run/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=keyward dev CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$run/ca.key" -out "$run/ca.crt" 2>/dev/null
  rm -f "$run/server.crt"
fi
if [ ! -s "$run/server.crt" ] || [ ! -s "$run/server.key" ]; then
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$run/server.key" -out "$run/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$run/server.ext"
  openssl x509 -req -in "$run/server.csr" -CA "$run/ca.crt" -CAkey "$run/ca.key" \
    -CAcreateserial -days 397 -extfile "$run/server.ext" -out "$run/server.crt" 2>/dev/null
  rm -f "$run/server.csr" "$run/server.ext"
fi
chmod 600 "$run"/*.key

# A free TCP port on 127.0.0.1: $1 if free, else one the kernel picks.
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
want = int(sys.argv[1])
for port in (want, 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}
port=$(free_port 8443)
admin_port=$(free_port 9091)
redis_port=$(free_port 6390)

# 3. A throwaway redis-server: no persistence, loopback only, random password (in a 0600 file,
#    never on a command line), large values freed in the background (README, Operating it).
redis_pass=$(openssl rand -hex 24)
cat >"$run/redis.conf" <<CONF
bind 127.0.0.1
port $redis_port
protected-mode yes
save ""
appendonly no
dir $run
requirepass $redis_pass
lazyfree-lazy-user-del yes
lazyfree-lazy-server-del yes
lazyfree-lazy-expire yes
lazyfree-lazy-user-flush yes
CONF
chmod 600 "$run/redis.conf"
redis-server "$run/redis.conf" >"$run/redis.log" 2>&1 &
redis_pid=$!
kw_pid=""
cleanup() {
  [ -n "$kw_pid" ] && kill "$kw_pid" 2>/dev/null || true
  kill "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 50); do
  REDISCLI_AUTH="$redis_pass" redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

# 4. Two demo clients with fresh keys.
mapfile -t admin_key < <("$kw" token new --client admin-demo)
mapfile -t browser_key < <("$kw" token new --client browser-demo)
umask 077
sed -e "s|127.0.0.1:8443|127.0.0.1:$port|" \
    -e "s|127.0.0.1:9091|127.0.0.1:$admin_port|" \
    -e "s|sha256:a\{64\}|${admin_key[1]}|" \
    -e "s|sha256:b\{64\}|${browser_key[1]}|" \
    conf/examples/quickstart.yaml >"$run/keyward.yaml"

export KEYWARD_UPSTREAM_URL="redis://127.0.0.1:$redis_port"
export KEYWARD_UPSTREAM_TOKEN="$redis_pass"
KEYWARD_ADMIN_TOKEN=$(openssl rand -hex 24)
export KEYWARD_ADMIN_TOKEN
"$kw" check --config "$run/keyward.yaml"

cat <<MSG

keyward quick start
  config:        $run/keyward.yaml   (redis on 127.0.0.1:$redis_port)
  admin-demo:    ${admin_key[0]}
  browser-demo:  ${browser_key[0]}

Try (in another terminal):
  curl --cacert $cacert -H "Authorization: Bearer ${browser_key[0]}" https://localhost:$port/set/demo:hello/world
  curl --cacert $cacert -H "Authorization: Bearer ${browser_key[0]}" https://localhost:$port/get/demo:hello
  curl --cacert $cacert -H "Authorization: Bearer ${browser_key[0]}" https://localhost:$port/flushall   # 403 NOPERM
  curl http://127.0.0.1:$admin_port/metrics
  $kw audit verify $run/audit.jsonl   # the audit log's hash chain

Ctrl-C stops keyward and redis-server.

MSG
"$kw" serve --config "$run/keyward.yaml" &
kw_pid=$!
wait "$kw_pid"
