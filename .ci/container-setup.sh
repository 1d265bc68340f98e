#!/usr/bin/env bash
# Debian packages the container tests (tests/container, marker `container`) and
# deploy/container/build.sh need. Called by .ci/run; safe to run again.
#   podman      (pulls conmon, containernetworking-plugins, iptables: the build network)
#   runc        the OCI runtime that works here (crun fails on this hybrid cgroup v1 host)
#   mmdebstrap  builds the Debian base root filesystem (no container registry is reachable)
#   catatonit   lets podman build its pause image locally, so `podman pod create` needs no registry
# Not needed as root: uidmap, slirp4netns, fuse-overlayfs (native overlayfs, CNI bridge).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(podman runc mmdebstrap catatonit)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # .ci/run has run apt-get update already; by hand the lists may be missing or stale.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
export CONTAINERS_CONF="$(cd "$(dirname "$0")/.." && pwd)/deploy/container/containers.conf"
podman --version
