#!/usr/bin/env bash
# Build deploy/Dockerfile without a registry or a package index: the dependencies' wheels are built by this
# machine's pip into deploy/wheels, and the image installs from them alone (--no-index). Run from anywhere.
#
#   deploy/build-image.sh [-t TAG] [--base IMAGE] [--make-base]
#
#   -t TAG       the image to build (default agent:latest)
#   --base IMG   the base image (default python:3.11-slim-bookworm, pulled from Docker Hub)
#   --make-base  make the base first with deploy/make-base-image.sh (debootstrap; no registry at all)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=agent:latest
base=python:3.11-slim-bookworm
make_base=false
while [ $# -gt 0 ]; do
  case "$1" in
    -t) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --make-base) make_base=true; shift ;;
    *) echo "usage: $0 [-t TAG] [--base IMAGE] [--make-base]" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

if $make_base; then
  deploy/make-base-image.sh "$base" >/dev/null
fi

context=$(mktemp -d /tmp/agent-image-XXXXXX)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/deploy/wheels"
# setuptools too: pip builds the agent from /src in the image, and its build isolation needs it offline.
"$python" -m pip wheel --quiet --wheel-dir "$context/deploy/wheels" . "setuptools>=68" >&2
cp -r pyproject.toml README.md agent "$context/"
cp deploy/Dockerfile deploy/agent.yaml "$context/deploy/"
find "$context/agent" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$context" -c . | docker build --quiet -f deploy/Dockerfile \
  --build-arg BASE_IMAGE="$base" --build-arg PIP_OPTIONS=--no-index -t "$tag" - >/dev/null
echo "$tag"
