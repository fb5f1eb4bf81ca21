#!/usr/bin/env bash
# Sends one CT study (NIfTI .nii or .nii.gz) to kidneyseg, waits for the segmentation, and
# downloads the label map and the job's summary:
#
#   Deploy/pacs-bridge.sh STUDY.nii.gz OUTPUT_DIR
#
# OUTPUT_DIR receives mask.nii(.gz) (0 background, 1 kidney, 2 tumour, in the study's geometry)
# and summary.json (the job: status, input summary, per-class volumes in mL, metrics).
#
# Environment:
#   KIDNEYSEG_URL      the service (default http://127.0.0.1:8080)
#   KIDNEYSEG_TOKEN    a bearer token, when the service requires one
#   KIDNEYSEG_CASE_ID  the case id to record (default: the file name)
#   KIDNEYSEG_TIMEOUT  seconds to wait for the result (default 3600)
#
# The Idempotency-Key is the study's SHA-256, so a retried or repeated call returns the job the
# first one made instead of segmenting again. Polling backs off from 1 s to 30 s. A queue-full
# answer (429) is retried after its Retry-After. Exit status: 0 done, 1 the job failed or was
# cancelled, 2 usage, 3 the service refused the study, 4 timeout.
set -euo pipefail

if [ $# -ne 2 ] || [ ! -f "$1" ]; then
    echo "usage: $0 STUDY.nii[.gz] OUTPUT_DIR" >&2
    exit 2
fi
study=$1
output=$2
url=${KIDNEYSEG_URL:-http://127.0.0.1:8080}
case_id=${KIDNEYSEG_CASE_ID:-$(basename "$study")}
deadline=$(( $(date +%s) + ${KIDNEYSEG_TIMEOUT:-3600} ))
auth=()
[ -n "${KIDNEYSEG_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $KIDNEYSEG_TOKEN")
mkdir -p "$output"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The value of a top-level string field of compact JSON, such as "status".
field() { grep -o "\"$1\":\"[^\"]*\"" "$2" | head -n 1 | cut -d '"' -f 4; }

key=$(sha256sum "$study" | cut -d ' ' -f 1)
encoded_case=$(printf '%s' "$case_id" | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')
while true; do
    status=$(curl -sS "${auth[@]}" -o "$scratch/job.json" -D "$scratch/headers" -w '%{http_code}' \
        --retry 5 --retry-connrefused --retry-delay 2 \
        -H "Idempotency-Key: $key" -H "Content-Type: application/octet-stream" \
        --data-binary @"$study" "$url/v1/jobs?case_id=$encoded_case")
    [ "$status" != 429 ] && break
    wait=$(grep -i '^retry-after:' "$scratch/headers" | tr -dc '0-9')
    echo "the queue is full; retrying in ${wait:-30} s" >&2
    sleep "${wait:-30}"
done
if [ "$status" != 202 ]; then
    echo "kidneyseg refused the study ($status): $(cat "$scratch/job.json")" >&2
    exit 3
fi
location=$(grep -i '^location:' "$scratch/headers" | tr -d '\r' | cut -d ' ' -f 2)
echo "submitted $study as $url$location"

delay=1
while true; do
    curl -sS --fail "${auth[@]}" --retry 5 --retry-connrefused -o "$scratch/job.json" "$url$location"
    state=$(field status "$scratch/job.json")
    case "$state" in
        succeeded) break ;;
        failed | cancelled)
            echo "the job $state: $(field reason "$scratch/job.json")" >&2
            cp "$scratch/job.json" "$output/summary.json"
            exit 1 ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "no result after ${KIDNEYSEG_TIMEOUT:-3600} s (the job is $state at $url$location)" >&2
        exit 4
    fi
    sleep "$delay"
    delay=$(( delay * 2 > 30 ? 30 : delay * 2 ))
done

mask="$output/mask.nii"
case "$study" in *.gz) mask="$mask.gz" ;; esac
curl -sS --fail "${auth[@]}" --retry 5 -o "$mask" "$url$location/mask"
cp "$scratch/job.json" "$output/summary.json"
echo "done: $mask and $output/summary.json"
