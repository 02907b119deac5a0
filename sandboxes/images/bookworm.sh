#!/bin/sh
# Recipe `bookworm`: a self-contained Debian 12 root with Python 3 (and nothing of this machine's),
# made by debootstrap from Debian's own archive; ~1-2 minutes, needs root and Debian's `debootstrap`.
#   bookworm.sh ROOT [MIRROR]   fills the (empty) folder ROOT
set -eu
root=${1:?usage: bookworm.sh ROOT [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || { echo "debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
debootstrap --variant=minbase --include=python3,libseccomp2 bookworm "$root" "$mirror"
# What a sandbox never needs: package caches and lists.
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
mkdir -p "$root/work" "$root/run/assay" "$root/opt/assay"
