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

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!); wait_port "$rport"
redis-cli -p "$rport" set bench:k hello >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
{ read -r key; read -r hash; } < <("$bin" token new --client bench)

start_keyward() {  # $1 = name, $2 = binary; sets kport_$1
  local port; port=$(free_port)
  cat >"$work/kw-$1.yaml" <<YAML
listen:
  address: "127.0.0.1:$port"
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
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
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

run() {  # name url
  local out; out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency -H "Connection: close" \
                   -H "Authorization: Bearer $key" "$2")
  grep -q 'Non-2xx' <<<"$out" && { echo "$1: non-2xx answers, aborting" >&2; echo "$out" >&2; exit 1; }
  echo "$1 $(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '$1=="99%"{print $2}' <<<"$out")"
}
targets=(nginx keyward); [ -n "${kport_base:-}" ] && targets+=(baseline)
declare -A url=([nginx]="https://127.0.0.1:$nport/get/bench:k"
                [keyward]="https://127.0.0.1:$kport_now/get/bench:k"
                [baseline]="https://127.0.0.1:${kport_base:-0}/get/bench:k")
: >"$work/results"
for r in $(seq "$rounds"); do  # each round starts one later in the list: the machine drifts
  n=${#targets[@]}
  for i in $(seq 0 $((n - 1))); do
    t=${targets[$(((i + r) % n))]}
    run "$t" "${url[$t]}" >>"$work/results"
  done
done
echo "GET over a new TLS connection each, $conns connections, ${secs}s x $rounds rounds, medians:"
python3 - "$work/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in dict.fromkeys(r[0] for r in rows):
    med[name] = statistics.median(float(r[1]) for r in rows if r[0] == name)
    print(f"  {name:10s} {med[name]:10.0f} req/s   p99 per round: "
          f"{' '.join(r[2] for r in rows if r[0] == name)}")
print(f"  ratio keyward/nginx: {med['keyward'] / med['nginx']:.2f}x")
if "baseline" in med:
    print(f"  ratio baseline/nginx: {med['baseline'] / med['nginx']:.2f}x")
PY
