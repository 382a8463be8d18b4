#!/usr/bin/env bash
# Memory of the release keyward binary (TLS listener, Redis upstream): RSS when idle and with
# N idle TLS connections held open (default 5,000), then under two attacks: 100 anonymous
# connections pushing 9 MiB bodies, and 100 authorised clients pipelining 100 GETs of a 2 MiB
# value without ever reading, then one amplifying MGET: twelve 8 MiB values (96 MiB, over
# upstream.max_reply_bytes: refused after Redis ran it) and seven (56 MiB, within it: relayed
# in slices); last, 20 clients at once reading a list of 1,000,000 one-byte values (a reply of
# many small values: 7 bytes of RESP each, the most the parsed tree grows over its bytes).
# Prints kB figures; never a CI gate. The bounds each figure is held to are in
# docs/benchmarks.md.
#   [KEYWARD_BIN=/path/to/keyward] bench/memory.sh [CONNECTIONS=5000]
# KEYWARD_BIN measures that binary instead of building this tree's (before/after figures).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${1:-5000}
bin=${KEYWARD_BIN:-$(bash scripts/build-release.sh | tail -1)}
source bench/lib.sh
ulimit -n $((conns * 2 + 1024))
rport=$(free_port) kport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
{ read -r key; read -r hash; } < <("$bin" token new --client mem)
cat >"$work/kw.yaml" <<YAML
listen:
  address: "127.0.0.1:$kport"
  workers: ${KW_WORKERS:-1}
  tls: { cert_file: $work/cert.pem, key_file: $work/key.pem }
  max_connections: $((conns + 100))
  max_unauthenticated_per_address: $((conns + 100))  # the idle connections all come from here
  header_timeout: 120s
  idle_timeout: 120s
admin:
  address: "127.0.0.1:0"
upstream:
  url: "redis://127.0.0.1:$rport"
clients:
  - name: mem
    api_keys: ["$hash"]
    commands: ["+get", "+set", "+mget", "+lrange"]
    keys: ["mem:*"]
YAML
"$bin" serve --config "$work/kw.yaml" >"$work/kw.log" 2>&1 & kw=$!; pids+=($kw)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$kport") 2>/dev/null && break; sleep 0.1; done
sleep 1
rss() { awk '/^VmRSS/{print $2}' /proc/"$kw"/status; }
idle=$(rss)
fds_idle=$(ls /proc/"$kw"/fd | wc -l)
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
  [ "$n" -ge $((fds_idle + conns)) ] && break
  sleep 0.2
done
sleep 2
held=$(rss)
open=$(( $(ls /proc/"$kw"/fd | wc -l) - fds_idle ))
echo "keyward RSS idle: ${idle} kB; with ${open} idle TLS connections: ${held} kB" \
     "($(( (held - idle) * 1024 / (open > 0 ? open : 1) )) bytes per connection)"
kill "$py" 2>/dev/null || true
wait "$py" 2>/dev/null || true
sleep 1
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' v | redis-cli -p "$rport" -x set mem:big >/dev/null
for i in $(seq 0 11); do
  head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' w | redis-cli -p "$rport" -x set "mem:v$i" >/dev/null
done
redis-cli -p "$rport" eval "for i = 1, 1000000 do redis.call('rpush', KEYS[1], 'x') end" 1 mem:list >/dev/null
# attack MODE: "anon" (100 x 9 MiB bodies with a bad key), "slow" (100 non-reading pipeliners),
# "mgetN" (one MGET of N 8 MiB values), "lrange" (20 clients each reading the 1M-value list).
attack() {
  python3 - "$kport" "$work/cert.pem" "$key" "$1" <<'PY'
import socket, ssl, sys, time
port, ca, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
socks = []
for i in range(100):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    if mode.startswith("mget"):
        n = int(mode[4:])
        path = "/mget/" + "/".join(f"mem:v{j}" for j in range(n))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        got = 0
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            if got == 0:
                status = b.split(b"\r\n", 1)[0].decode()
                sys.stdout.write(f"  mget x{n}: {status}\n")
            got += len(b)
        sys.stdout.write(f"  mget x{n}: {got >> 20} MiB of response read\n")
        break
    if mode == "lrange":
        s.sendall(f"GET /lrange/mem:list/0/-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        socks.append(s)
        if len(socks) < 20:
            continue
        got = [0] * len(socks)
        for j, c in enumerate(socks):
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                if got[j] == 0 and j == 0:
                    status = b.split(b"\r\n", 1)[0].decode()
                    sys.stdout.write(f"  lrange x20: {status}\n")
                got[j] += len(b)
        sys.stdout.write(f"  lrange x20: {sum(got) >> 20} MiB of responses read\n")
        break
    if mode == "anon":
        s.sendall(f"POST /set/mem:x HTTP/1.1\r\nHost: x\r\nContent-Length: {9 << 20}\r\n"
                  f"Authorization: Bearer kw_bad{i}\r\n\r\n".encode())
    else:
        s.sendall((f"GET /get/mem:big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n"
                   * 100).encode())
    s.setblocking(False)
    socks.append(s)
piece = b"a" * 65536
end = time.time() + 4
while time.time() < end and mode == "anon":
    for s in socks:
        try:
            s.send(piece)
        except (BlockingIOError, ssl.SSLWantWriteError):
            pass
        except OSError:
            pass
time.sleep(4 if mode == "slow" else 0)
PY
}
for mode in anon slow mget12 mget7 lrange; do
  base=$(rss); peak=$base
  attack "$mode" & ap=$!; pids+=($ap)
  while kill -0 "$ap" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
  echo "keyward RSS under attack '$mode': before ${base} kB, peak ${peak} kB" \
       "(+$(( (peak - base) / 1024 )) MiB)"
  sleep 1
done
