#!/usr/bin/env bash
# New TLS connection per request, as edge functions connect: wrk with `Connection: close` (every
# request pays a full TLS handshake) against keyward doing the whole GET (credential, policy,
# redis-server) and against nginx answering a fixed 200, one worker each, the same P-256
# certificate, alternating rounds; medians and the ratio. Never a CI gate.
#   bench/handshake.sh [SECONDS_PER_RUN=10] [ROUNDS=3] [CONNECTIONS=20]
# KEYWARD_BASELINE=/path/to/an/older/keyward runs in the same rounds (before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} rounds=${2:-3} conns=${3:-20}
for p in wrk nginx redis-server openssl python3; do
  command -v "$p" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends wrk nginx redis-server openssl python3 >/dev/null
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
    break; }
done
bin=$(bash scripts/build-release.sh | tail -1)
source bench/lib.sh

start_redis
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
{ read -r key; read -r hash; } < <("$bin" token new --client bench)

start_keyward() {  # $1 = name, $2 = binary; sets kport_$1
  local port; port=$(free_port)
  cat >"$work/kw-$1.yaml" <<YAML
listen:
  address: "127.0.0.1:$port"
  workers: ${KW_WORKERS:-1}
  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
  connections: 8
budget: { per_second: 0, per_day: 0, per_month: 0 }
$(bench_client "$hash")
YAML
  "$2" serve --config "$work/kw-$1.yaml" >"$work/kw-$1.log" 2>&1 & pids+=($!)
  wait_port "$port" || { cat "$work/kw-$1.log" >&2; exit 1; }
  printf -v "kport_$1" '%s' "$port"
}
start_keyward now "$bin"
[ -n "${KEYWARD_BASELINE:-}" ] && start_keyward base "$KEYWARD_BASELINE"

nport=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
$(nginx_prelude "$work/nginx")
http {
  access_log off;
$(nginx_temp_paths "$work/nginx")
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;  # nginx 1.22's default stops at TLS 1.2; keyward offers 1.3
    location / { default_type application/json; return 200 '{"result":"hello"}'; }
  }
}
NGINX
nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/stdout.log" 2>&1 &
pids+=($!); wait_port "$nport" || { cat "$work/nginx/error.log" >&2; exit 1; }

declare -A url=([nginx]="https://127.0.0.1:$nport/get/bench:k"
                [keyward]="https://127.0.0.1:$kport_now/get/bench:k"
                [baseline]="https://127.0.0.1:${kport_base:-0}/get/bench:k")
run_target() {
  wrk_row "$1" "${url[$1]}" -H "Connection: close" -H "Authorization: Bearer $key" >>"$work/results"
}
: >"$work/results"
targets=(nginx keyward); [ -n "${kport_base:-}" ] && targets+=(baseline)
rotated_rounds "$rounds" "${targets[@]}"
echo "GET over a new TLS connection each, $conns connections, ${secs}s x $rounds rounds, medians:"
print_medians "$work/results" keyward:nginx baseline:nginx
