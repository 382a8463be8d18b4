#!/usr/bin/env bash
# Memory of the release keyward binary (TLS listener, Redis upstream): RSS when idle and with
# N idle TLS connections held open (default 5,000). Prints kB figures; never a CI gate.
#   bench/memory.sh [CONNECTIONS=5000]
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-5000}
bin=$(bash scripts/build-release.sh | tail -1)
source bench/lib.sh
ulimit -n $((conns * 2 + 1024))
rport=$(free_port) kport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
{ read -r _key; read -r hash; } < <("$bin" token new --client mem)
cat >"$work/kw.yaml" <<YAML
listen:
  address: "127.0.0.1:$kport"
  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }
  max_connections: $((conns + 100))
  header_timeout: 120s
  idle_timeout: 120s
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
clients:
  - name: mem
    api_keys: ["$hash"]
    commands: ["+get"]
    keys: ["mem:*"]
YAML
"$bin" serve --config "$work/kw.yaml" >"$work/kw.log" 2>&1 & kw=$!; pids+=($kw)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$kport") 2>/dev/null && break; sleep 0.1; done
sleep 1
rss() { awk '/^VmRSS/{print $2}' /proc/"$kw"/status; }
idle=$(rss)
python3 - "$kport" "$conns" "$work/cert.pem" "$kw" <<'PY' &
import socket, ssl, sys, time
port, n, ca, kw = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
held = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    held.append(ctx.wrap_socket(s, server_hostname="localhost"))
open("/dev/stdout", "w").write(f"opened {len(held)} TLS connections\n")
time.sleep(30)
PY
py=$!; pids+=($py)
for _ in $(seq 600); do
  n=$(ls /proc/"$kw"/fd | wc -l)
  [ "$n" -ge "$conns" ] && break
  sleep 0.2
done
sleep 2
held=$(rss)
echo "keyward RSS idle: ${idle} kB; with ${conns} idle TLS connections: ${held} kB" \
     "($(( (held - idle) * 1024 / conns )) bytes per connection)"
