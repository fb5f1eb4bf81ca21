#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer: HTTP requests, multipart bodies, NIfTI files (the header
# checks and libnifti), PNG (libpng), safetensors headers, the service's JSON settings, model
# manifests, DICOM files (GDCM and the series checks), zips of them (libzip) and the mask's
# Accept header. The DICOM and zip seeds are made up by Fuzz/seed-dicom.py. Each harness runs
# for SECONDS (default 60) from its seed corpus in Fuzz/corpus/;
# new inputs that find new paths go to .build-fuzz/corpus/, a crash to .build-fuzz/crash-*.
#
#   Fuzz/run.sh [SECONDS] [HARNESS...]
#
# CI runs each for 60 s. For a longer search run one harness for hours, e.g.
# `Fuzz/run.sh 14400 multipart`, and reproduce a crash with
# `.build/release/kidneyseg-fuzz multipart .build-fuzz/crash-…`. A crash found is a bug: fix
# it, and add the input to the corpus so the tests replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(http multipart nifti png safetensors config manifest dicom zip accept)

# The DICOM and zip harnesses parse DICOM in a child `kidneyseg read-dicom`, as the service does.
swift build -c release --product kidneyseg
export KIDNEYSEG_DICOM_READER=$PWD/.build/release/kidneyseg
swift build -c debug --scratch-path .build-fuzz --product kidneyseg-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING \
    -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld  # gold fails to link libFuzzer
binary=.build-fuzz/debug/kidneyseg-fuzz
export SWIFT_BACKTRACE=enable=no
for harness in "${harnesses[@]}"; do
    found=.build-fuzz/corpus/$harness
    mkdir -p "$found"
    echo "fuzzing $harness for $seconds s"
    # No leak checks: Foundation keeps one-time caches (4 KB on the first file read) that
    # LeakSanitizer reports at exit; memory that grows per input still trips -rss_limit_mb.
    ASAN_OPTIONS=detect_leaks=0 KIDNEYSEG_FUZZ_HARNESS=$harness "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -detect_leaks=0 \
        -artifact_prefix=".build-fuzz/crash-$harness-" -print_final_stats=1 "$found" "Fuzz/corpus/$harness" 2>&1 \
        | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)" || true
    if ls .build-fuzz/crash-"$harness"-* >/dev/null 2>&1; then
        echo "fuzz: $harness crashed; the input is in $(ls .build-fuzz/crash-"$harness"-* | head -n 1)" >&2
        exit 1
    fi
done
echo "fuzz: ${#harnesses[@]} harnesses ran for $seconds s each with no crash"
