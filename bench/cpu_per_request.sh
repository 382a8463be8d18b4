#!/usr/bin/env bash
# CPU per request: the same wrk GET load (keep-alive) through webdis and through keyward
# (plaintext, TLS, and plaintext with an EdDSA JWT), each alone on the same redis-server; the
# gateway process's user+system time (/proc/PID/stat, every thread) divided by the requests wrk
# completed, and its user and system parts. Alternating rounds, medians, keyward/webdis ratios.
# Never a CI gate.
#   bench/cpu_per_request.sh [SECONDS_PER_RUN=10] [ROUNDS=3] [CONNECTIONS=50]
# KEYWARD_BASELINE=/path/to/an/older/keyward: that binary runs too (plaintext, same config) in the
# same rounds, for a before/after comparison in one sitting; with KEYWARD_BASELINE_TLS=1 it serves
# TLS and is compared with keyward-tls instead.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} rounds=${2:-3} conns=${3:-50}
for p in wrk webdis redis-server openssl python3; do
  command -v "$p" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq wrk webdis redis-server openssl python3 >/dev/null; break; }
done
bin=$(bash scripts/build-release.sh | tail -1)
source bench/lib.sh

start_redis

# webdis: one worker thread, like keyward's single event loop.
wport=$(free_port)
cat >"$work/webdis.json" <<JSON
{"redis_host":"127.0.0.1","redis_port":$rport,"http_host":"127.0.0.1","http_port":$wport,
 "threads":1,"pool_size":8,"daemonize":false,"verbosity":0,"logfile":"$work/webdis.log"}
JSON
webdis "$work/webdis.json" & wpid=$!; pids+=($wpid); wait_port "$wport"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/ed.pem" 2>/dev/null
{ read -r key; read -r hash; } < <("$bin" token new --client bench)
start_keyward() {  # $1 = plain|tls|baseline; sets kport_$1 and kpid_$1
  local port tls="" exe=$bin; port=$(free_port)
  [ "$1" = baseline ] && exe=$KEYWARD_BASELINE
  if [ "$1" = tls ] || { [ "$1" = baseline ] && [ -n "${KEYWARD_BASELINE_TLS:-}" ]; }; then
    tls="  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }"
  fi
  cat >"$work/kw-$1.yaml" <<YAML
listen:
  address: "127.0.0.1:$port"
  workers: ${KW_WORKERS:-1}
$tls
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
  connections: 8
budget: { per_second: 0, per_day: 0, per_month: 0 }
signing:
  keys:
    - { id: ed, alg: EdDSA, private_key_file: $work/ed.pem }
$(bench_client "$hash")
  - name: session
    commands: ["+get"]
    keys: ["session:{sub}:*"]
YAML
  "$exe" serve --config "$work/kw-$1.yaml" >"$work/kw-$1.log" 2>&1 & pids+=($!)
  printf -v "kpid_$1" '%s' "$!"
  wait_port "$port" || { cat "$work/kw-$1.log" >&2; exit 1; }
  printf -v "kport_$1" '%s' "$port"
}
start_keyward plain
start_keyward tls
targets=(webdis keyward-plain keyward-tls keyward-jwt)
base_scheme=http base_peer=keyward-plain
[ -n "${KEYWARD_BASELINE_TLS:-}" ] && base_scheme=https base_peer=keyward-tls
if [ -n "${KEYWARD_BASELINE:-}" ]; then start_keyward baseline; targets+=(keyward-baseline); fi
jwt=$("$bin" token mint --config "$work/kw-plain.yaml" --client session --sub u1 --ttl 1h)

ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # user, system
measure() {  # name pid url [header]: "NAME US_PER_REQUEST REQ/S USER_US SYSTEM_US"
  local before after out n
  before=$(ticks "$2")
  out=$(wrk -t1 -c"$conns" -d"${secs}s" ${4:+-H "$4"} "$3")
  after=$(ticks "$2")
  grep -q 'Non-2xx' <<<"$out" && { echo "$1: non-2xx answers, aborting" >&2; echo "$out" >&2; exit 1; }
  n=$(awk '/requests in/{print $1}' <<<"$out")
  python3 -c "import os,sys; hz=os.sysconf('SC_CLK_TCK'); b=sys.argv[1].split(); a=sys.argv[2].split(); \
u=(int(a[0])-int(b[0]))/hz*1e6/int(sys.argv[4]); k=(int(a[1])-int(b[1]))/hz*1e6/int(sys.argv[4]); \
print(sys.argv[3], f'{u+k:.2f}', f'{int(sys.argv[4])/float(sys.argv[5]):.0f}', f'{u:.2f}', f'{k:.2f}')" \
    "$before" "$after" "$1" "$n" "$secs"
}
run_target() {
  case $1 in
    webdis) measure webdis "$wpid" "http://127.0.0.1:$wport/GET/bench:k" ;;
    keyward-plain) measure "$1" "$kpid_plain" "http://127.0.0.1:$kport_plain/get/bench:k" "Authorization: Bearer $key" ;;
    keyward-tls) measure "$1" "$kpid_tls" "https://127.0.0.1:$kport_tls/get/bench:k" "Authorization: Bearer $key" ;;
    keyward-jwt) measure "$1" "$kpid_plain" "http://127.0.0.1:$kport_plain/get/session:u1:k" "Authorization: Bearer $jwt" ;;
    keyward-baseline) measure "$1" "$kpid_baseline" "$base_scheme://127.0.0.1:$kport_baseline/get/bench:k" "Authorization: Bearer $key" ;;
  esac >>"$work/results"
}
: >"$work/results"
rotated_rounds "$rounds" "${targets[@]}"
echo "GET, $conns connections, ${secs}s x $rounds rounds, median of rounds (CPU us per request of the gateway process, req/s):"
python3 - "$work/results" "$base_peer" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in dict.fromkeys(r[0] for r in rows):
    us = [float(r[1]) for r in rows if r[0] == name]
    med[name] = statistics.median(us)
    rps = statistics.median(float(r[2]) for r in rows if r[0] == name)
    user = statistics.median(float(r[3]) for r in rows if r[0] == name)
    system = statistics.median(float(r[4]) for r in rows if r[0] == name)
    print(f"  {name:16s} {med[name]:7.2f} us/request (user {user:.2f}, system {system:.2f})"
          f"   per round: {' '.join(f'{x:.2f}' for x in us)}   {rps:.0f} req/s")
for n in ("keyward-plain", "keyward-tls", "keyward-jwt", "keyward-baseline"):
    if n in med:
        print(f"  ratio {n}/webdis: {med[n] / med['webdis']:.2f}x")
if "keyward-baseline" in med:
    peer = sys.argv[2]
    print(f"  ratio {peer}/keyward-baseline: {med[peer] / med['keyward-baseline']:.2f}x")
PY
