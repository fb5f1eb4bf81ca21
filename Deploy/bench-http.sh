#!/usr/bin/env bash
# Benchmarks the HTTP service on loopback and prints a markdown table:
#   - GET /healthz with keep-alive (wrk, 2 threads, 50 connections): requests/s and p99 latency,
#     beside nginx answering a fixed 200 on the same machine in the same run;
#   - 100 concurrent keep-alive clients (wrk -c100): how many responses were not 200;
#   - 1,000 slow clients holding connections (Deploy/slow-clients.py): /healthz latency meanwhile,
#     whether a normal upload still succeeds, and the server's thread count;
#   - one 200 MB uncompressed NIfTI upload: MB/s, and how much the server's RSS grew while it
#     was received and checked (sampled every 20 ms until the 202 came back).
# Usage: Deploy/bench-http.sh [MODELS_DIR]   (needs wrk, nginx, curl and python3; builds in release)
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:-Models}"
port=18089
scratch="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; [ -f "$scratch/nginx.pid" ] && kill "$(cat "$scratch/nginx.pid")"; rm -rf "$scratch"' EXIT

swift build -c release >/dev/null
.build/release/kidneyseg serve --models "$models" --port "$port" --data-dir "$scratch/data" \
    --max-upload-mb 512 >"$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# nginx answering a fixed 200, as the yardstick for /healthz.
nginx_port=18090
mkdir -p "$scratch/nginx"
cat >"$scratch/nginx.conf" <<NGINX
worker_processes auto;
pid $scratch/nginx.pid;
error_log $scratch/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { default_type application/json; return 200 '{"status":"ok"}'; }
    }
}
NGINX
nginx -p "$scratch/nginx" -c "$scratch/nginx.conf"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/" >/dev/null && break; sleep 0.1; done

wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$port/healthz" >"$scratch/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$scratch/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$scratch/wrk.txt")
wrk -t2 -c50 -d10s --latency "http://127.0.0.1:$nginx_port/" >"$scratch/wrk-nginx.txt"
nginx_rps=$(awk '/Requests\/sec/ {print $2}' "$scratch/wrk-nginx.txt")
nginx_p99=$(awk '$1 == "99%" {print $2}' "$scratch/wrk-nginx.txt")

wrk -t2 -c100 -d5s "http://127.0.0.1:$port/healthz" >"$scratch/wrk-100.txt"
burst=$(awk '/requests in/ {print $1}' "$scratch/wrk-100.txt")
refused=$(awk '/Non-2xx/ {print $NF}' "$scratch/wrk-100.txt")
errors=$(awk '/Socket errors/ {print}' "$scratch/wrk-100.txt")

threads() { awk '/Threads/ {print $2}' "/proc/$server/status"; }
threads_before=$(threads)
python3 Deploy/slow-clients.py "$port" 1000 ../shared/data/pancreas-ct-slice/slice.nii.gz >"$scratch/slow.json" &
slow=$!
threads_peak=$threads_before
while kill -0 "$slow" 2>/dev/null; do now=$(threads); [ "$now" -gt "$threads_peak" ] && threads_peak=$now; sleep 0.1; done
wait "$slow"
slow_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$scratch/slow.json" "$1"; }

# 512 x 512 x 400 int16 voxels: a 200 MiB NIfTI-1 file.
python3 - "$scratch/big.nii" <<'PY'
import struct, sys
header = bytearray(352)
struct.pack_into("<i", header, 0, 348)
struct.pack_into("<8h", header, 40, 3, 512, 512, 400, 1, 1, 1, 1)
struct.pack_into("<hh", header, 70, 4, 16)            # int16
struct.pack_into("<8f", header, 76, 1, 0.8, 0.8, 1.5, 1, 1, 1, 1)
struct.pack_into("<f", header, 108, 352)               # vox_offset
struct.pack_into("<h", header, 254, 1)                 # sform_code
struct.pack_into("<4f", header, 280, 0.8, 0, 0, 0)
struct.pack_into("<4f", header, 296, 0, 0.8, 0, 0)
struct.pack_into("<4f", header, 312, 0, 0, 1.5, 0)
header[344:348] = b"n+1\0"
with open(sys.argv[1], "wb") as f:
    f.write(header)
    f.truncate(352 + 512 * 512 * 400 * 2)
PY
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
before=$(rss)
peak=$before
curl -sS -o "$scratch/accepted.json" -w '%{http_code} %{time_total}\n' --data-binary @"$scratch/big.nii" \
    "http://127.0.0.1:$port/v1/jobs" >"$scratch/upload.txt" &
upload=$!
while kill -0 "$upload" 2>/dev/null; do now=$(rss); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.02; done
read -r status seconds <"$scratch/upload.txt"
[ "$status" = 202 ] || { echo "the upload got $status: $(cat "$scratch/accepted.json")" >&2; exit 1; }
size=$(stat -c %s "$scratch/big.nii")

echo "| benchmark | figure |"
echo "|---|---|"
echo "| GET /healthz, keep-alive, 50 connections | $rps requests/s, p99 $p99 |"
echo "| nginx, a fixed 200, same run | $nginx_rps requests/s, p99 $nginx_p99 (kidneyseg/nginx $(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')) |"
echo "| 100 concurrent keep-alive clients, 5 s | $burst requests, ${refused:-0} not 200${errors:+; $errors} |"
echo "| /healthz while 1,000 slow clients hold connections | p50 $(slow_field p50_ms) ms, p99 $(slow_field p99_ms) ms, max $(slow_field max_ms) ms; $(slow_field failed_probes) of 300 failed |"
echo "| a normal upload meanwhile | HTTP $(slow_field upload_status); $(slow_field slow_connections_held) slow connections still held; server threads $threads_before → $threads_peak |"
awk -v b="$size" -v s="$seconds" 'BEGIN { printf "| 200 MiB NIfTI upload | %.0f MB/s (%.2f s) |\n", b / s / 1e6, s }'
echo "| server RSS growth during the upload | $(( (peak - before) / 1024 )) MB ($(( before / 1024 )) → $(( peak / 1024 )) MB) |"
