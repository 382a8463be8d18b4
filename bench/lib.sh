# Shared by the bench scripts (sourced): a scratch dir removed at exit with every process in
# `pids`, and loopback port helpers.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

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
