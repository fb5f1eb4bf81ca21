#!/usr/bin/env bash
# Installs the C libraries kidneyseg links against (Debian's -dev packages) and builds the
# release binary at .build/release/kidneyseg. Needs root for apt-get; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh needs root to install packages: run it with sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends libnifti-dev libopenblas-dev libpng-dev libsqlite3-dev zlib1g-dev

swift build -c release
