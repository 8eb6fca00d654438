#!/bin/bash
# Installs what scripts/rgw/start.sh needs: a one-node Ceph (monitor + OSD) and the RADOS Gateway, from
# Debian/Ubuntu packages. Idempotent: does nothing when every tool is already on the PATH.
# Needs root (or sudo) and apt-get. About 30 s and ~220 MiB on a fresh Debian 12 machine.
set -euo pipefail

PACKAGES=(radosgw ceph-mon ceph-osd uuid-runtime curl)
TOOLS=(radosgw radosgw-admin ceph ceph-mon ceph-osd ceph-authtool monmaptool uuidgen curl)

missing=()
for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "rgw install: already installed ($(radosgw --version 2>/dev/null | head -n1))"
  exit 0
fi
echo "rgw install: missing ${missing[*]}; installing ${PACKAGES[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "rgw install: must run as root (or have sudo)" >&2; exit 1; }
  SUDO=(sudo)
fi
command -v apt-get >/dev/null 2>&1 || { echo "rgw install: apt-get not found; install ${PACKAGES[*]} by hand" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

for t in "${TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || { echo "rgw install: $t still missing after install" >&2; exit 1; }
done
echo "rgw install: done ($(radosgw --version | head -n1))"
