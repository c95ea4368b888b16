#!/usr/bin/env bash
# Builds the six service images and the gateway image from deploy/docker/Dockerfile
# with the first container builder found (docker, podman, buildah). Where there is
# none (as on the CI machine) it says so plainly and exits 0: nothing is built.
# IMAGE_PREFIX (default crosstalk) and IMAGE_TAG (default: the git commit) name them.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(identity customers rules translation messaging reporting gateway)
PREFIX="${IMAGE_PREFIX:-crosstalk}"
TAG="${IMAGE_TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}"

builder=""
for candidate in docker podman buildah; do
  if command -v "$candidate" >/dev/null 2>&1; then
    if [ "$candidate" = docker ] && ! docker info >/dev/null 2>&1; then
      echo "docker is installed but its daemon does not answer; trying the next builder"
      continue
    fi
    builder="$candidate"
    break
  fi
done
if [ -z "$builder" ]; then
  echo "No container builder (docker, podman or buildah) is available here: no image was built."
  echo "On a machine with one: make images  (IMAGE_PREFIX=${PREFIX} IMAGE_TAG=${TAG})"
  exit 0
fi

for target in "${TARGETS[@]}"; do
  image="${PREFIX}/${target}:${TAG}"
  echo "building ${image} with ${builder}"
  if [ "$builder" = buildah ]; then
    buildah bud -f deploy/docker/Dockerfile --target "$target" \
      --build-arg "SERVICE=${target}" -t "$image" .
  else
    "$builder" build -f deploy/docker/Dockerfile --target "$target" \
      --build-arg "SERVICE=${target}" -t "$image" .
  fi
done
echo "built: ${TARGETS[*]} as ${PREFIX}/<name>:${TAG}"
