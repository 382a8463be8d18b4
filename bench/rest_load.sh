#!/usr/bin/env bash
# REST-mode load comparison on one machine, in one run: wrk over TLS against
#   keyward-rest  keyward with `upstream.url: https://...` (token swap, every policy check on:
#                 commands, key patterns, IP allow-list, a rate limit and a global budget that
#                 never trip, access log)
#   nginx         Debian nginx, one worker, `proxy_pass https://...` with a keep-alive pool, upstream
#                 certificate verified, Authorization swapped by proxy_set_header (no policy)
# both in front of the same inner upstream: a keyward in Redis mode (it speaks the Upstash REST
# protocol) on loopback over TLS (INNER_TLS=0: plain HTTP), in front of redis-server. The inner
# keyward alone ("inner-direct") is measured too: the ceiling both front ends share.
# Rounds alternate the targets; medians per target. Never a CI gate: numbers vary by host.
#   bench/rest_load.sh [SECONDS_PER_RUN=10] [ROUNDS=3] [CONNECTIONS=50]
#   env: KEYWARD_BIN (skip the release build), INNER_TLS=1, TARGETS="inner-direct nginx keyward-rest",
#        KW_CONNECTIONS (keyward's upstream.connections; default CONNECTIONS, as nginx's idle pool)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} rounds=${2:-3} conns=${3:-50}
inner_tls=${INNER_TLS:-1}
targets=${TARGETS:-"inner-direct nginx keyward-rest"}
need=()
for p in wrk nginx redis-server redis-cli openssl python3; do command -v "$p" >/dev/null || need+=("$p"); done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    wrk nginx redis-server redis-tools openssl python3 >/dev/null
  # The package may have started a system nginx: this script runs its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
fi
bin=${KEYWARD_BIN:-$(bash scripts/build-release.sh | tail -1)}
source bench/lib.sh

# One test CA; every listener (inner, keyward-rest, nginx) gets a leaf for localhost/127.0.0.1.
ossl() { openssl "$@" 2>/dev/null; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
ossl req -x509 "${ec[@]}" -days 2 -subj "/CN=rest bench CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign -keyout "$work/ca.key" -out "$work/ca.crt"
ossl req "${ec[@]}" -subj /CN=localhost -keyout "$work/key.pem" -out "$work/srv.csr"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/srv.ext"
ossl x509 -req -in "$work/srv.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/srv.ext" -out "$work/cert.pem"
tls_block="  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }"

rpass=$(openssl rand -hex 16)
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --requirepass "$rpass" --save '' --appendonly no \
  --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!); wait_port "$rport"
REDISCLI_AUTH=$rpass redis-cli -p "$rport" set bench:k hello >/dev/null

# Inner keyward (Redis mode): one all-powerful client whose key plays the Upstash token.
{ read -r up_token; read -r up_hash; } < <("$bin" token new --client upstream)
iport=$(free_port)
cat >"$work/inner.yaml" <<YAML
listen:
  address: "127.0.0.1:$iport"
  workers: ${KW_WORKERS:-1}
$([ "$inner_tls" = 1 ] && echo "$tls_block")
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
  token_env: BENCH_REDIS_PASS
  connections: 8
budget: { per_second: 0, per_day: 0, per_month: 0 }   # the stand-in upstream counts nothing
clients:
  - name: upstream
    api_keys: ["$up_hash"]
    commands: ["+@all"]
    keys: ["*"]
YAML
BENCH_REDIS_PASS=$rpass "$bin" serve --config "$work/inner.yaml" >"$work/inner.log" 2>&1 & pids+=($!)
wait_port "$iport" || { cat "$work/inner.log" >&2; exit 1; }
scheme=http; [ "$inner_tls" = 1 ] && scheme=https

# keyward in REST mode with the full policy in front of the inner one.
{ read -r key; read -r hash; } < <("$bin" token new --client bench)
kport=$(free_port)
cat >"$work/rest.yaml" <<YAML
listen:
  address: "127.0.0.1:$kport"
  workers: ${KW_WORKERS:-1}
$tls_block
admin:
  address: "127.0.0.1:0"
upstream:
  url: "$scheme://127.0.0.1:$iport"
  token_env: BENCH_UP_TOKEN
  ca_file: $work/ca.crt
  connections: ${KW_CONNECTIONS:-$conns}
# Quota accounting on too, with budgets too large to refuse.
budget: { per_second: 100000000, per_day: 1000000000000, per_month: 1000000000000 }
$(bench_client "$hash")
    allow_ips: ["127.0.0.0/8", "::1/128"]
    limits: { rate: 1000000/s, burst: 1000000 }
YAML
if [[ " $targets " == *" keyward-rest "* ]]; then
  BENCH_UP_TOKEN=$up_token "$bin" serve --config "$work/rest.yaml" >"$work/rest.log" 2>&1 & pids+=($!)
  wait_port "$kport" || { cat "$work/rest.log" >&2; exit 1; }
fi

# nginx, one worker (keyward runs one event loop).
nport=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
$(nginx_prelude "$work/nginx")
http {
  access_log $work/nginx/access.log combined buffer=64k flush=100ms;
$(nginx_temp_paths "$work/nginx")
  # nginx at its best: an idle pool as large as the client concurrency (with fewer, the excess
  # upstream connections are closed after each request and every request pays a TLS handshake),
  # and no periodic close of client or upstream keep-alive connections.
  keepalive_requests 1000000;
  upstream inner { server 127.0.0.1:$iport; keepalive $((conns + 8)); keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass $scheme://inner;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost;
      proxy_set_header Authorization "Bearer $up_token";
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $work/ca.crt; proxy_ssl_name localhost;
      proxy_ssl_server_name on; proxy_ssl_session_reuse on;
    }
  }
}
NGINX
if [[ " $targets " == *" nginx "* ]]; then
  nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/stdout.log" 2>&1 & pids+=($!)
  wait_port "$nport" || { cat "$work/nginx/error.log" >&2; exit 1; }
fi

# POST / pipeline body for the second workload (wrk Lua).
cat >"$work/pipeline.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/pipeline"
wrk.body = '[["GET","bench:k"],["GET","bench:k"],["SET","bench:w","v"],["GET","bench:w"],["DEL","bench:x"]]'
wrk.headers["Content-Type"] = "application/json"
LUA

run() {  # name workload url token
  local out script=() path=/get/bench:k
  [ "$2" = pipeline ] && { script=(-s "$work/pipeline.lua"); path=""; }
  out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency "${script[@]}" -H "Authorization: Bearer $4" "$3$path")
  local rps p99
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then echo "$1 $2: errors, aborting" >&2; echo "$out" >&2; exit 1; fi
  echo "$1 $2 $rps $p99"
}
# Each target answers correctly before it is timed.
check() {  # name url token
  local body; body=$(curl -sS --cacert "$work/ca.crt" -H "Authorization: Bearer $3" "$2/get/bench:k")
  [ "$body" = '{"result":"hello"}' ] || { echo "$1 answered $body" >&2; exit 1; }
}
inner_url="$scheme://127.0.0.1:$iport"
declare -A url=([inner-direct]=$inner_url [nginx]="https://127.0.0.1:$nport" [keyward-rest]="https://127.0.0.1:$kport")
declare -A tok=([inner-direct]=$up_token [nginx]=$key [keyward-rest]=$key)
for t in $targets; do check "$t" "${url[$t]}" "${tok[$t]}"; done

: >"$work/results"
for r in $(seq "$rounds"); do
  for w in get pipeline; do
    # Alternate the order each round so drift on a shared host does not favour one target.
    order=$targets; ((r % 2 == 0)) && order=$(tr ' ' '\n' <<<"$targets" | tac | tr '\n' ' ')
    for t in $order; do run "$t" "$w" "${url[$t]}" "${tok[$t]}" >>"$work/results"; done
  done
done
echo "TLS client -> front -> inner keyward ($scheme) -> redis; $conns connections, ${secs}s x $rounds rounds;"
echo "median of rounds (req/s; pipeline = 5 commands per request), req/s and p99 per round:"
python3 - "$work/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for w in dict.fromkeys(r[1] for r in rows):
    for name in dict.fromkeys(r[0] for r in rows):
        sel = [r for r in rows if r[0] == name and r[1] == w]
        if not sel:
            continue
        med[(name, w)] = statistics.median(float(r[2]) for r in sel)
        print(f"  {w:8s} {name:13s} {med[(name, w)]:10.0f} req/s   rounds: {' '.join(r[2].split('.')[0] for r in sel)}   p99: {' '.join(r[3] for r in sel)}")
    if (("keyward-rest", w) in med) and (("nginx", w) in med):
        # Also per round: the two ran next to each other, so drift on a shared host cancels out.
        kw = [float(r[2]) for r in rows if r[0] == "keyward-rest" and r[1] == w]
        ng = [float(r[2]) for r in rows if r[0] == "nginx" and r[1] == w]
        paired = statistics.median(k / n for k, n in zip(kw, ng))
        print(f"  {w:8s} ratio keyward-rest/nginx: {med[('keyward-rest', w)] / med[('nginx', w)]:.2f}x"
              f" (median of per-round ratios {paired:.2f}x, rounds won {sum(k > n for k, n in zip(kw, ng))}/{len(kw)})")
PY
