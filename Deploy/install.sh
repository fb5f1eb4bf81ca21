#!/usr/bin/env bash
# Installs the C libraries kidneyseg links against (Debian's -dev packages) and builds the
# release binary at .build/release/kidneyseg (curl and python3 are for Deploy/pacs-bridge.sh). Needs root for
# apt-get; run from anywhere.
#
# With --service it also installs kidneyseg as a systemd service on this Debian host:
#   /usr/local/bin/kidneyseg (+ its resource bundle), the models in
#   /usr/local/share/kidneyseg/models, /etc/kidneyseg/kidneyseg.json and /etc/kidneyseg/environment
#   (kept if they exist), the data in /var/lib/kidneyseg, and the unit kidneyseg.service, started.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh needs root to install packages: run it with sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends libnifti-dev libopenblas-dev libpng-dev libsqlite3-dev zlib1g-dev libgdcm-dev libdcmtk-dev libzip-dev curl python3

swift build -c release

[ "${1:-}" = "--service" ] || exit 0

id kidneyseg >/dev/null 2>&1 || useradd --system --home-dir /var/lib/kidneyseg --shell /usr/sbin/nologin kidneyseg
install -D -m 0755 .build/release/kidneyseg /usr/local/bin/kidneyseg
# What Deploy/orthanc/kidneyseg.lua calls; on an Orthanc host also the script itself and the
# folder it writes results to (add the script to Orthanc's "LuaScripts" to turn it on).
install -m 0755 Deploy/pacs-bridge.sh /usr/local/bin/kidneyseg-pacs-bridge
if [ -d /etc/orthanc ] && id orthanc >/dev/null 2>&1; then
    install -m 0644 Deploy/orthanc/kidneyseg.lua /etc/orthanc/kidneyseg.lua
    install -d -m 0750 -o orthanc -g orthanc /var/lib/kidneyseg-bridge
fi
rm -rf /usr/local/bin/kidneyseg_Service.resources
cp -r .build/release/kidneyseg_Service.resources /usr/local/bin/
rm -rf /usr/local/share/kidneyseg/models
mkdir -p /usr/local/share/kidneyseg /usr/local/share/doc/kidneyseg
cp -r Models /usr/local/share/kidneyseg/models
install -m 0644 README.md /usr/local/share/doc/kidneyseg/README.md
install -d -m 0750 -o kidneyseg -g kidneyseg /var/lib/kidneyseg
install -d -m 0755 /etc/kidneyseg
[ -e /etc/kidneyseg/kidneyseg.json ] || install -m 0644 Config/kidneyseg.json /etc/kidneyseg/kidneyseg.json
if [ ! -e /etc/kidneyseg/environment ]; then
    install -m 0600 /dev/null /etc/kidneyseg/environment
    cat >/etc/kidneyseg/environment <<'ENVIRONMENT'
# kidneyseg's environment (see /etc/kidneyseg/kidneyseg.json for every key).
KIDNEYSEG_DATA_DIR=/var/lib/kidneyseg
KIDNEYSEG_MODELS_DIR=/usr/local/share/kidneyseg/models
# KIDNEYSEG_HOST=0.0.0.0
# KIDNEYSEG_TOKENS=a-long-random-secret
ENVIRONMENT
fi
install -m 0644 Deploy/kidneyseg.service /etc/systemd/system/kidneyseg.service
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now kidneyseg.service
    systemctl --no-pager status kidneyseg.service | head -n 5
else
    echo "systemd is not running here: start the service with 'systemctl enable --now kidneyseg' on the host"
fi
