#!/usr/bin/env bash
# Gateway load comparison on one machine, in one run: wrk against keyward (Redis upstream, full
# policy; plaintext and TLS) and against webdis, all on the same redis-server, alternating rounds.
# Prints req/s and p99 per target and keyward/webdis ratios. Never a CI gate: numbers vary by host.
#   bench/load.sh [--quota|--shadow|--audit|--encryption|--workers] [SECONDS_PER_RUN=10]
#                 [ROUNDS=3] [CONNECTIONS=50]
# keyward runs with listen.workers: ${KW_WORKERS:-1} (one event loop, like webdis's one thread;
# WEBDIS_THREADS sets webdis's).
# KEYWARD_BASELINE=/path/to/an/older/keyward: that binary runs too (plaintext, same config) in the
# same alternating rounds, for a before/after comparison in one sitting.
# --quota: the cost of quota accounting instead: keyward (plaintext) with no limits and no budget
# against the same config with every limit on (client rate/burst, per-identity rate, per_day,
# per_month, the global budget, a state file), budgets too large to refuse; alternating rounds.
# --shadow: the cost of a shadow policy the same way: the same client with and without a
# `shadow:` block (every request decided twice; the GETs agree, so no mismatch line).
# --audit: the cost of the audit log the same way: the same config with and without
# `audit: { file, log_keys: true }` (every request also formatted, chained and appended).
# --encryption: the cost of value encryption: one keyward with `encryption.patterns:
# [bench:enc:*]`, GET and SET (path style, a 64-byte value) of a key under the pattern (sealed on
# SET, opened on GET) against a key outside it, alternating rounds.
# --workers: listen.workers 1 against 2 (README, Workers), the same GET, alternating rounds; wrk
# runs with 2 threads here. On a 2-core machine wrk and redis-server share the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=gateway
if [ "${1:-}" = "--quota" ]; then mode=quota; shift; fi
if [ "${1:-}" = "--shadow" ]; then mode=shadow; shift; fi
if [ "${1:-}" = "--audit" ]; then mode=audit; shift; fi
if [ "${1:-}" = "--encryption" ]; then mode=encryption; shift; fi
if [ "${1:-}" = "--workers" ]; then mode=workers; shift; fi
secs=${1:-10} rounds=${2:-3} conns=${3:-50}
need=()
tools=(wrk redis-server openssl); [ "$mode" = gateway ] && tools+=(webdis)
for p in "${tools[@]}"; do command -v "$p" >/dev/null || need+=("$p"); done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk webdis redis-server openssl >/dev/null
fi
bin=$(bash scripts/build-release.sh | tail -1)
source bench/lib.sh

start_redis

# webdis: one worker thread, like keyward's single event loop.
wport=$(free_port)
if [ "$mode" = gateway ]; then
cat >"$work/webdis.json" <<JSON
{"redis_host":"127.0.0.1","redis_port":$rport,"http_host":"127.0.0.1","http_port":$wport,
 "threads":${WEBDIS_THREADS:-1},"pool_size":8,"daemonize":false,"verbosity":0,"logfile":"$work/webdis.log"}
JSON
webdis "$work/webdis.json" & pids+=($!); wait_port "$wport"
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
{ read -r key; read -r hash; } < <("$bin" token new --client bench)
start_keyward() {  # $1 = plain|tls|quota|shadow|audit|workers|baseline; sets kport_$1 (runs in this shell so cleanup sees the pid)
  local port tls="" budget limits="" exe=$bin workers=${KW_WORKERS:-1}; port=$(free_port)
  [ "$1" = workers ] && workers=2
  [ "$1" = baseline ] && exe=$KEYWARD_BASELINE
  local workers_line="  workers: $workers"
  [ "$1" = baseline ] && workers_line=""  # an older binary may not know the key
  [ "$1" = tls ] && tls="  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }"
  budget="budget: { per_second: 0, per_day: 0, per_month: 0 }"
  if [ "$1" = quota ]; then
    budget="budget: { per_second: 100000000, per_day: 1000000000000, per_month: 1000000000000 }
quota: { state_file: $work/quota.state }"
    limits="    limits: { rate: 100000000/s, burst: 100000000, per_identity_rate: 100000000/s,
              per_day: 1000000000000, per_month: 1000000000000 }"
  fi
  if [ "$1" = shadow ]; then
    limits="    shadow: { commands: [\"+@read\", \"-@dangerous\"], keys: [\"bench:*\", \"other:*\"] }"
  fi
  [ "$1" = audit ] && budget="$budget
audit: { file: $work/audit.jsonl, log_keys: true, on_failure: refuse }"
  if [ "$1" = encryption ]; then
    "$bin" encryption new-key >"$work/value.key"
    budget="$budget
encryption: { keys: [{ id: b1, secret_file: $work/value.key }], patterns: [\"bench:enc:*\"] }"
  fi
  cat >"$work/kw-$1.yaml" <<YAML
listen:
  address: "127.0.0.1:$port"
$workers_line
$tls
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
  connections: 8
$budget
$(bench_client "$hash")
$limits
YAML
  "$exe" serve --config "$work/kw-$1.yaml" >"$work/kw-$1.log" 2>&1 & pids+=($!)
  wait_port "$port" || { cat "$work/kw-$1.log" >&2; exit 1; }
  printf -v "kport_$1" '%s' "$port"
}
start_keyward plain; kplain=$kport_plain
if [ "$mode" = gateway ]; then
  start_keyward tls; ktls=$kport_tls
  if [ -n "${KEYWARD_BASELINE:-}" ]; then start_keyward baseline; kbase=$kport_baseline; fi
else
  start_keyward "$mode"; kvariant=$(eval echo "\$kport_$mode")
fi

wrk_threads=1; [ "$mode" = workers ] && wrk_threads=2
run() { wrk_row "$1" "$2" ${3:+-H "$3"}; }  # name url [header]
: >"$work/results"
if [ "$mode" = encryption ]; then
  value=$(printf 'v%.0s' $(seq 64))
  base="http://127.0.0.1:$kvariant"
  for k in bench:enc:k bench:plain:k; do
    curl -fsS -H "Authorization: Bearer $key" "$base/set/$k/$value" >/dev/null
  done
  stored=$(redis-cli -p "$rport" get bench:enc:k)
  case "$stored" in kw1.b1.*) ;; *) echo "bench:enc:k is not sealed in redis: $stored" >&2; exit 1 ;; esac
  for r in $(seq "$rounds"); do
    if ((r % 2)); then order="plain enc"; else order="enc plain"; fi
    for t in $order; do
      run "get-$t" "$base/get/bench:$t:k" "Authorization: Bearer $key" >>"$work/results"
      run "set-$t" "$base/set/bench:$t:k/$value" "Authorization: Bearer $key" >>"$work/results"
    done
  done
  echo "GET and SET (64-byte value), $conns connections, ${secs}s x $rounds rounds, median of rounds:"
  python3 - "$work/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in ("get-plain", "get-enc", "set-plain", "set-enc"):
    rps = [float(r[1]) for r in rows if r[0] == name]
    med[name] = statistics.median(rps)
    print(f"  {name:10s} {med[name]:10.0f} req/s   per round: {' '.join(f'{x:.0f}' for x in rps)}"
          f"   p99: {' '.join(r[2] for r in rows if r[0] == name)}")
for op in ("get", "set"):
    print(f"  {op.upper()} encrypted/plain: ratio {med[op + '-enc'] / med[op + '-plain']:.3f}")
PY
  echo "  stored under bench:enc:k: $(redis-cli -p "$rport" get bench:enc:k | cut -c1-40)..."
  exit 0
fi
if [ "$mode" != gateway ]; then
  for r in $(seq "$rounds"); do  # alternate the order too: the machine may drift
    if ((r % 2)); then order="plain $mode"; else order="$mode plain"; fi
    for t in $order; do
      p=$kplain; [ "$t" = "$mode" ] && p=$kvariant
      run "keyward-$t" "http://127.0.0.1:$p/get/bench:k" "Authorization: Bearer $key" >>"$work/results"
    done
  done
  echo "GET, $conns connections, ${secs}s x $rounds rounds, median of rounds (req/s, p99):"
  python3 - "$work/results" "$mode" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
variant = "keyward-" + sys.argv[2]
med = {}
for name in ("keyward-plain", variant):
    rps = [float(r[1]) for r in rows if r[0] == name]
    med[name] = statistics.median(rps)
    print(f"  {name:14s} {med[name]:10.0f} req/s   per round: {' '.join(f'{x:.0f}' for x in rps)}"
          f"   p99: {' '.join(r[2] for r in rows if r[0] == name)}")
cost = 100 * (1 - med[variant] / med["keyward-plain"])
plain = [float(r[1]) for r in rows if r[0] == "keyward-plain"]
other = [float(r[1]) for r in rows if r[0] == variant]
paired = statistics.median(100 * (1 - q / p) for p, q in zip(plain, other))
print(f"  {sys.argv[2]} cost: {cost:.1f}% (median vs median), {paired:.1f}% (median of the"
      f" rounds' paired differences); negative = noise larger than the cost;"
      f" ratio {med[variant] / med['keyward-plain']:.3f}")
PY
  if [ "$mode" = audit ]; then
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true  # stopped: its buffer is written
    echo "  audit.jsonl: $(wc -l <"$work/audit.jsonl") records, $(du -h "$work/audit.jsonl" | cut -f1);" \
         "keyward audit verify: $("$bin" audit verify "$work/audit.jsonl")"
  fi
  exit 0
fi
for r in $(seq "$rounds"); do
  run webdis "http://127.0.0.1:$wport/GET/bench:k" >>"$work/results"
  run keyward-plain "http://127.0.0.1:$kplain/get/bench:k" "Authorization: Bearer $key" >>"$work/results"
  run keyward-tls "https://127.0.0.1:$ktls/get/bench:k" "Authorization: Bearer $key" >>"$work/results"
  if [ -n "${kbase:-}" ]; then
    run baseline-plain "http://127.0.0.1:$kbase/get/bench:k" "Authorization: Bearer $key" >>"$work/results"
  fi
done
echo "GET, $conns connections, ${secs}s x $rounds rounds, median of rounds (req/s, p99):"
python3 - "$work/results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in dict.fromkeys(r[0] for r in rows):
    rps = statistics.median(float(r[1]) for r in rows if r[0] == name)
    p99 = [r[2] for r in rows if r[0] == name]
    med[name] = rps
    print(f"  {name:14s} {rps:10.0f} req/s   p99 per round: {' '.join(p99)}")
for n in ("keyward-plain", "keyward-tls"):
    print(f"  ratio {n}/webdis: {med[n] / med['webdis']:.2f}x")
if "baseline-plain" in med:
    print(f"  ratio keyward-plain/baseline-plain: {med['keyward-plain'] / med['baseline-plain']:.2f}x")
PY
