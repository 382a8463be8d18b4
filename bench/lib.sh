# Shared by the bench scripts (sourced): a scratch dir removed at exit with every process in
# `pids`, and loopback port helpers.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

# A redis-server of its own on a free port ($rport), stopped at exit, with `bench:k` and
# `session:u1:k` set to "hello" (the keys the load scripts GET).
start_redis() {
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$rport"
  redis-cli -p "$rport" set bench:k hello >/dev/null
  redis-cli -p "$rport" set session:u1:k hello >/dev/null
}

# The clients: section both load scripts give keyward: one client `bench` with the key reference
# $1, every policy dimension in use (commands, key and read-only key patterns, channels); callers
# append more of its fields (limits, allow_ips) on the lines after.
bench_client() {
  cat <<YAML
clients:
  - name: bench
    api_keys: ["$1"]
    commands: ["+@read", "+set", "+del", "-@dangerous"]
    keys: ["bench:*"]
    read_keys: ["public:*"]
    channels: ["bench:*"]
YAML
}

# One wrk run against URL (extra arguments go to wrk, e.g. -H headers); prints "NAME REQ/S P99"
# and aborts on any non-2xx answer. Uses the caller's $conns, $secs and $wrk_threads (default 1).
wrk_row() {
  local name=$1 url=$2 out; shift 2
  out=$(wrk -t"${wrk_threads:-1}" -c"$conns" -d"${secs}s" --latency "$@" "$url")
  grep -q 'Non-2xx' <<<"$out" && { echo "$name: non-2xx answers, aborting" >&2; echo "$out" >&2; exit 1; }
  echo "$name $(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '$1=="99%"{print $2}' <<<"$out")"
}

# Calls the caller's run_target NAME for every target, ROUNDS times, each round starting one
# later in the list (a shared host drifts: no target always runs first).
rotated_rounds() {
  local rounds=$1 r i; shift
  local targets=("$@")
  for r in $(seq "$rounds"); do
    for i in $(seq 0 $((${#targets[@]} - 1))); do run_target "${targets[$(((i + r) % ${#targets[@]}))]}"; done
  done
}

# The median req/s of each NAME in FILE (rows "NAME REQ/S P99"), its p99 per round, then for each
# A:B argument the ratio of A's median to B's (skipped when either did not run).
print_medians() {
  python3 - "$@" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for name in dict.fromkeys(r[0] for r in rows):
    med[name] = statistics.median(float(r[1]) for r in rows if r[0] == name)
    print(f"  {name:16s} {med[name]:10.0f} req/s   p99 per round: "
          f"{' '.join(r[2] for r in rows if r[0] == name)}")
for pair in sys.argv[2:]:
    a, b = pair.split(":")
    if a in med and b in med:
        print(f"  ratio {a}/{b}: {med[a] / med[b]:.2f}x")
PY
}

# The lines every one-worker nginx config here starts with: DIR holds its pid, logs and temp files.
nginx_prelude() {
  cat <<NGINX
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
NGINX
}
nginx_temp_paths() {
  echo "  client_body_temp_path $1/body; proxy_temp_path $1/proxy;"
  echo "  fastcgi_temp_path $1/fcgi; uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;"
}
