#!/usr/bin/env bash
# Make a Debian bookworm base image with Python 3.11 without any registry: debootstrap a minimal root file
# system from a Debian mirror, trim it, and `docker import` it.
#
#   deploy/make-base-image.sh [TAG]        (default agent-base:bookworm; needs root, debootstrap, docker)
#
# Then: deploy/build-image.sh --base TAG. About 75 s with a nearby mirror (DEBIAN_MIRROR overrides it).
set -euo pipefail

tag=${1:-agent-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /tmp/agent-base-XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# What a container never needs: downloaded packages, package lists, documentation, translations.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
tar -C "$root" --numeric-owner -c . | docker import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "$tag"
