#!/usr/bin/env bash
# What a browser's credential costs: wrk GETs through one keyward (Redis upstream, plaintext so the
# credential is what differs) with a static API key, an EdDSA JWT and an HS256 JWT, alternating
# rounds; medians, and each JWT's ratio to the static key. Never a CI gate.
#   bench/jwt_load.sh [SECONDS_PER_RUN=10] [ROUNDS=3] [CONNECTIONS=50]
# KEYWARD_BASELINE=/path/to/an/older/keyward: that binary runs too (same config), and its EdDSA
# rounds are printed beside, for a before/after comparison in one sitting.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} rounds=${2:-3} conns=${3:-50}
for p in wrk redis-server openssl python3; do
  command -v "$p" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq wrk redis-server openssl python3 >/dev/null; break; }
done
bin=$(bash scripts/build-release.sh | tail -1)
source bench/lib.sh

start_redis

openssl genpkey -algorithm ed25519 -out "$work/ed.pem" 2>/dev/null
head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$work/hs.secret"
{ read -r key; read -r hash; } < <("$bin" token new --client bench)
start_keyward() {  # $1 = name, $2 = binary; sets kport_$1
  local port; port=$(free_port)
  cat >"$work/kw-$1.yaml" <<YAML
listen:
  address: "127.0.0.1:$port"
  workers: ${KW_WORKERS:-1}
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
  connections: 8
budget: { per_second: 0, per_day: 0, per_month: 0 }
signing:
  issuer: https://auth.bench
  audience: keyward
  max_ttl: 2h
  keys:
    - { id: ed, alg: EdDSA, private_key_file: $work/ed.pem }
    - { id: hs, alg: HS256, secret_file: $work/hs.secret }
$(bench_client "$hash")
  - name: session
    commands: ["+get", "+set"]
    keys: ["session:{sub}:*"]
YAML
  "$2" serve --config "$work/kw-$1.yaml" >"$work/kw-$1.log" 2>&1 & pids+=($!)
  wait_port "$port" || { cat "$work/kw-$1.log" >&2; exit 1; }
  printf -v "kport_$1" '%s' "$port"
}
start_keyward now "$bin"
[ -n "${KEYWARD_BASELINE:-}" ] && start_keyward base "$KEYWARD_BASELINE"
ed=$("$bin" token mint --config "$work/kw-now.yaml" --client session --sub u1 --ttl 1h)
hs=$(python3 - "$work/hs.secret" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "kid": "hs", "typ": "JWT"}).encode())
body = b64(json.dumps({"client": "session", "sub": "u1", "iss": "https://auth.bench",
                       "aud": "keyward", "iat": now, "exp": now + 3600}).encode())
secret = open(sys.argv[1], "rb").read()
sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)

run_target() {
  case $1 in
    static) wrk_row static "http://127.0.0.1:$kport_now/get/bench:k" -H "Authorization: Bearer $key" ;;
    eddsa) wrk_row eddsa "http://127.0.0.1:$kport_now/get/session:u1:k" -H "Authorization: Bearer $ed" ;;
    hs256) wrk_row hs256 "http://127.0.0.1:$kport_now/get/session:u1:k" -H "Authorization: Bearer $hs" ;;
    baseline-static) wrk_row "$1" "http://127.0.0.1:$kport_base/get/bench:k" -H "Authorization: Bearer $key" ;;
    baseline-eddsa) wrk_row "$1" "http://127.0.0.1:$kport_base/get/session:u1:k" -H "Authorization: Bearer $ed" ;;
  esac >>"$work/results"
}
: >"$work/results"
targets=(static eddsa hs256); [ -n "${kport_base:-}" ] && targets+=(baseline-static baseline-eddsa)
rotated_rounds "$rounds" "${targets[@]}"
echo "GET, plaintext, $conns connections, ${secs}s x $rounds rounds, median of rounds (req/s, p99):"
print_medians "$work/results" eddsa:static hs256:static baseline-eddsa:baseline-static
