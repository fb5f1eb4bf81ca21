#!/usr/bin/env bash
# Sends one CT study to kidneyseg, waits for the segmentation, and downloads the label map and
# the job's summary:
#
#   Deploy/pacs-bridge.sh STUDY OUTPUT_DIR
#
# STUDY is a NIfTI (.nii, .nii.gz), a PNG slice, one DICOM file, a zip of a DICOM series (as
# Orthanc's /series/{id}/archive gives it) or a folder of DICOM files, which is zipped first.
# OUTPUT_DIR receives the label map (0 background, 1 kidney, 2 tumour, on the study's grid)
# under the name the service gives it, which says its format: mask.nii.gz for a DICOM or
# gzipped NIfTI study, mask.nii for plain NIfTI, mask.png for a PNG; for a DICOM study also
# mask.seg.dcm, the same labels as DICOM SEG (when the series has the UIDs a SEG refers to); and
# summary.json (the job: status, input summary, per-class and per-side volumes in mL, metrics).
#
# Environment:
#   KIDNEYSEG_URL      the service (default http://127.0.0.1:8080)
#   KIDNEYSEG_TOKEN    a bearer token, when the service requires one
#   KIDNEYSEG_CASE_ID  the case id to record (default: the study's name)
#   KIDNEYSEG_TIMEOUT  seconds to wait for the result (default 3600)
#   KIDNEYSEG_ORTHANC_URL   when set, the DICOM SEG is stored there with Orthanc's REST API
#                           (POST /instances), into the study it came from
#   KIDNEYSEG_ORTHANC_AUTH  user:password for that Orthanc, when it asks for one
#
# The Idempotency-Key is the uploaded bytes' SHA-256, so a retried or repeated call returns the
# job the first one made instead of segmenting again. Polling backs off from 1 s to 30 s. A
# queue-full answer (429) or a busy server (503) is retried after its Retry-After.
#
# Exit status:
#   0  done: the label map and summary.json are in OUTPUT_DIR
#   1  the job failed or was cancelled (summary.json says why)
#   2  usage: wrong arguments, or the study cannot be read or zipped
#   3  the service refused the study (4xx or 5xx; its JSON error is printed)
#   4  no result before KIDNEYSEG_TIMEOUT
#   5  the service could not be reached: curl's own exit status is printed (6 unknown host,
#      7 connection refused, 28 timed out, 35 or 60 TLS), after 5 retries
#   6  KIDNEYSEG_ORTHANC_URL is set and the SEG could not be stored there (Orthanc's answer, or
#      curl's status when it cannot be reached, is printed); the outputs are in OUTPUT_DIR
set -euo pipefail

if [ $# -ne 2 ] || [ ! -e "$1" ]; then
    echo "usage: $0 STUDY (.nii, .nii.gz, .png, .dcm, .zip or a DICOM folder) OUTPUT_DIR" >&2
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

# curl, with a connection failure turned into exit status 5.
request() {
    local code=0
    curl -sS "${auth[@]}" --retry 5 --retry-connrefused --retry-delay 2 "$@" || code=$?
    if [ "$code" -ne 0 ]; then
        echo "cannot reach kidneyseg at $url (curl exit status $code)" >&2
        exit 5
    fi
}

# The value of a top-level string field of compact JSON, such as "status".
field() { grep -o "\"$1\":\"[^\"]*\"" "$2" | head -n 1 | cut -d '"' -f 4; }

# A folder of DICOM files travels as one zip; the service reads the bytes, not the name.
upload=$study
if [ -d "$study" ]; then
    upload="$scratch/series.zip"
    (cd "$study" && python3 -m zipfile -c "$upload" .) || { echo "cannot zip $study" >&2; exit 2; }
fi

key=$(sha256sum "$upload" | cut -d ' ' -f 1)
encoded_case=$(printf '%s' "$case_id" | od -An -tx1 | tr -d ' \n' | sed 's/../%&/g')
while true; do
    status=$(request -o "$scratch/job.json" -D "$scratch/headers" -w '%{http_code}' \
        -H "Idempotency-Key: $key" -H "Content-Type: application/octet-stream" \
        -X POST -T "$upload" "$url/v1/jobs?case_id=$encoded_case")
    [ "$status" != 429 ] && [ "$status" != 503 ] && break
    wait=$(grep -i '^retry-after:' "$scratch/headers" | tr -dc '0-9')
    echo "kidneyseg is busy ($status); retrying in ${wait:-30} s" >&2
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
    request --fail -o "$scratch/job.json" "$url$location"
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

# The mask keeps the name the service gives it (Content-Disposition), which says its format.
request --fail -D "$scratch/mask-headers" -o "$scratch/mask" "$url$location/mask"
name=$(grep -i '^content-disposition:' "$scratch/mask-headers" | sed -n 's/.*filename="\([^"/]*\)".*/\1/p')
mask="$output/${name:-mask.nii.gz}"
mv "$scratch/mask" "$mask"
cp "$scratch/job.json" "$output/summary.json"
echo "done: $mask and $output/summary.json"

# A DICOM study's mask also comes as DICOM SEG, which a PACS shows beside the study.
grep -q '"format":"DICOM"' "$scratch/job.json" || exit 0
seg_status=$(request -o "$scratch/seg" -w '%{http_code}' "$url$location/mask?format=dicom-seg")
if [ "$seg_status" != 200 ]; then
    echo "no DICOM SEG for this study ($seg_status): $(cat "$scratch/seg")" >&2
    exit 0
fi
mv "$scratch/seg" "$output/mask.seg.dcm"
echo "done: $output/mask.seg.dcm"
[ -n "${KIDNEYSEG_ORTHANC_URL:-}" ] || exit 0
orthanc_auth=()
[ -n "${KIDNEYSEG_ORTHANC_AUTH:-}" ] && orthanc_auth=(-u "$KIDNEYSEG_ORTHANC_AUTH")
code=0
stored=$(curl -sS "${orthanc_auth[@]}" --retry 5 --retry-connrefused --retry-delay 2 -o "$scratch/stored.json" -w '%{http_code}' \
    -X POST -H 'Content-Type: application/dicom' --data-binary @"$output/mask.seg.dcm" "$KIDNEYSEG_ORTHANC_URL/instances") || code=$?
if [ "$code" -ne 0 ] || [ "$stored" != 200 ]; then
    echo "Orthanc at $KIDNEYSEG_ORTHANC_URL did not store the SEG (curl exit status $code, HTTP ${stored:-none}): $(cat "$scratch/stored.json" 2>/dev/null)" >&2
    exit 6
fi
echo "stored the SEG in Orthanc: $(tr -d '\n' < "$scratch/stored.json")"
