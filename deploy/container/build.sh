#!/usr/bin/env bash
# Build the config-reloader container images from nothing, on a Debian 12 machine with no
# container registry: Debian root filesystem (mmdebstrap) -> `podman import` -> `podman build`.
#
#   deploy/container/build.sh [--rebuild-base] [--no-prometheus]
#
# Images (override with the environment variables of the same name):
#   BASE_IMAGE   localhost/config-reloader-base:bookworm-r2   Debian bookworm + python3, python3-venv,
#                                                          ca-certificates, busybox (built once, then
#                                                          cached: -rN changes with that list)
#   IMAGE        localhost/config-reloader:latest          the project's wheel in a venv, uid 65532,
#                                                          entrypoint `config-reloader`
#   PROM_IMAGE   localhost/config-reloader-prometheus:bookworm   base + Debian's `prometheus`
#   RUN_IMAGE    localhost/config-reloader-run:latest      PROM_IMAGE + the venv, entrypoint
#                                                          `config-reloader run` (entrypoint mode)
#
# Needs root, podman, runc and mmdebstrap (.ci/container-setup.sh installs them), and Debian's
# mirrors and PyPI (through the host's pip configuration) at build time. The Python dependencies
# are downloaded on the host (`pip wheel`) and installed offline in the image, so the build never
# needs PyPI from inside a container.
#
# Why the podman flags (measured on the 2-core Debian 12 CI machine, podman 4.3):
#   --runtime runc               crun fails on this hybrid cgroup v1 host
#   --cgroup-manager cgroupfs    no systemd as PID 1 here
#   --ulimit nofile=1024:1024    podman's default nofile limit (1048576) is above the hard limit
#   --ulimit nproc=1024:1024     of the host (20000); runc then fails with "error setting rlimit"
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="$here/build"   # ignored by git (.gitignore: /deploy/container/build/)

# ARCH (Debian architecture, default the host's): ARCH=arm64 builds arm64 images on an amd64 host
# (Debian's qemu-user-static and binfmt_misc run the image's RUN steps); their default tags end
# in -arm64.
host_arch=$(dpkg --print-architecture)
ARCH=${ARCH:-$host_arch}
sfx=$([ "$ARCH" = "$host_arch" ] || echo "-$ARCH")
BASE_IMAGE=${BASE_IMAGE:-localhost/config-reloader-base:bookworm-r2$sfx}
IMAGE=${IMAGE:-localhost/config-reloader:latest$sfx}
PROM_IMAGE=${PROM_IMAGE:-localhost/config-reloader-prometheus:bookworm$sfx}
RUN_IMAGE=${RUN_IMAGE:-localhost/config-reloader-run:latest$sfx}
work="$work${sfx:+/$ARCH}"
case "$ARCH" in
  amd64) wheel_arch=x86_64 ;;
  arm64) wheel_arch=aarch64 ;;
  *) echo "build.sh: ARCH=$ARCH is not supported (amd64, arm64)" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

rebuild_base=0
build_prometheus=1
for arg in "$@"; do
  case "$arg" in
    --rebuild-base) rebuild_base=1 ;;
    --no-prometheus) build_prometheus=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
podman=(podman --runtime runc --cgroup-manager cgroupfs)
build_flags=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --layers --arch "$ARCH")

for tool in podman runc mmdebstrap "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (run .ci/container-setup.sh)" >&2; exit 1; }
done

log() { printf 'build.sh: %s\n' "$*" >&2; }
t0=$(date +%s%N)
elapsed() { local d=$(( ($(date +%s%N) - t0) / 100000000 )); printf '%d.%d' $((d / 10)) $((d % 10)); }

mkdir -p "$work"

# 1. Base image: a minimal Debian root filesystem, imported as an image. Cached: rebuilt only when
#    missing or with --rebuild-base. Documentation, man pages and translations are left out
#    (dpkg path-exclude) to keep the image small; copyright files stay.
if [ "$rebuild_base" = 1 ] || ! "${podman[@]}" image exists "$BASE_IMAGE"; then
  log "building base $BASE_IMAGE with mmdebstrap"
  rootfs="$work/rootfs.tar"
  rm -f "$rootfs"
  mmdebstrap --arch="$ARCH" --variant=apt --mode=root --format=tar \
    --include=python3,python3-venv,ca-certificates,busybox \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --aptopt='Acquire::Retries "3"' \
    bookworm "$rootfs" \
    "deb $DEBIAN_MIRROR bookworm main" \
    "deb $DEBIAN_MIRROR bookworm-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" </dev/null
  "${podman[@]}" import --arch "$ARCH" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "Debian bookworm (mmdebstrap --variant=apt) + python3, python3-venv, ca-certificates, busybox" \
    "$rootfs" "$BASE_IMAGE" >/dev/null
  rm -f "$rootfs"
  log "base built after $(elapsed)s"
else
  log "base $BASE_IMAGE exists (cached; --rebuild-base to rebuild)"
fi

# 2. Wheels: the project (from the working tree, copied so the build leaves no build/ behind in
#    the checkout) and its runtime dependencies, built/downloaded on the host for the image's
#    Python (Debian bookworm: CPython 3.11, glibc 2.36, $ARCH).
ctx="$work/context"
rm -rf "$ctx"
mkdir -p "$ctx/wheels" "$ctx/src-copy"
cp -a "$repo/pyproject.toml" "$repo/setup.py" "$repo/README.md" "$repo/scripts" "$ctx/src-copy/"
cp -a "$repo/src" "$ctx/src-copy/"
find "$ctx/src-copy" \( -name '__pycache__' -o -name '*.egg-info' -o -name '*.so' \) -prune -exec rm -rf {} +
# The CPUID C extension is compiled for the host: an image of another architecture gets the
# pure-Python wheel (its CPU probe uses the other backends; arm64 needs none of them).
pure=$([ "$ARCH" = "$host_arch" ] || echo 1)
# (grep: the host's pip.conf may name local indexes that do not exist; pip warns per package)
quiet_pip() { "$PYTHON" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
# A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical for identical sources, so an unchanged
# tree reuses the cached image layers.
CONFIG_RELOADER_PURE=${pure:-0} SOURCE_DATE_EPOCH=315532800 quiet_pip wheel -q --no-deps -w "$ctx/wheels" "$ctx/src-copy"
rm -rf "$ctx/src-copy"
image_python=3.11
quiet_pip download -q -d "$ctx/wheels" --only-binary=:all: \
  --python-version "$image_python" --implementation cp --abi "cp${image_python/./}" --abi abi3 --abi none \
  --platform "manylinux_2_36_$wheel_arch" --platform "manylinux_2_28_$wheel_arch" \
  --platform "manylinux_2_17_$wheel_arch" --platform "manylinux2014_$wheel_arch" --platform "linux_$wheel_arch" --platform any \
  "$(ls "$ctx"/wheels/config_reloader-*.whl)"
cp "$here/Containerfile" "$here/prometheus.Containerfile" "$here/run.Containerfile" "$ctx/"
log "wheels ready after $(elapsed)s: $(cd "$ctx/wheels" && ls | tr '\n' ' ')"

# Image IDs before this build: a rebuilt tag leaves its previous image untagged; remove those
# (only those: never a machine-wide prune) at the end.
old_ids=()
for img in "$IMAGE" "$PROM_IMAGE" "$RUN_IMAGE"; do
  old_ids+=("$("${podman[@]}" image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)")
done

# 3. The config-reloader image (offline install from the wheels; the dependency layer is rebuilt
#    only when a wheel changes).
wheels_sha256=$(cd "$ctx/wheels" && sha256sum -- *.whl | sha256sum | cut -d' ' -f1)
"${podman[@]}" build -q "${build_flags[@]}" --network none --build-arg "BASE=$BASE_IMAGE" \
  --build-arg "WHEELS_SHA256=$wheels_sha256" \
  -f "$ctx/Containerfile" -t "$IMAGE" "$ctx" >/dev/null
log "image $IMAGE built after $(elapsed)s"

# 4. The Prometheus image (Debian's package; needs the Debian mirror from the build container).
if [ "$build_prometheus" = 1 ]; then
  "${podman[@]}" build -q "${build_flags[@]}" --build-arg "BASE=$BASE_IMAGE" \
    -f "$ctx/prometheus.Containerfile" -t "$PROM_IMAGE" "$ctx" >/dev/null
  log "image $PROM_IMAGE built after $(elapsed)s"
  # 5. Entrypoint mode: Prometheus + the venv (no network: two local images).
  "${podman[@]}" build -q "${build_flags[@]}" --network none \
    --build-arg "PROM_IMAGE=$PROM_IMAGE" --build-arg "IMAGE=$IMAGE" \
    -f "$ctx/run.Containerfile" -t "$RUN_IMAGE" "$ctx" >/dev/null
  log "image $RUN_IMAGE built after $(elapsed)s"
fi

for id in "${old_ids[@]}"; do
  [ -n "$id" ] || continue
  if [ -z "$("${podman[@]}" image inspect --format '{{join .RepoTags ","}}' "$id" 2>/dev/null)" ]; then
    "${podman[@]}" rmi "$id" >/dev/null 2>&1 || true   # still used by a container: keep it
  fi
done

"${podman[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E "^($BASE_IMAGE|$IMAGE|$PROM_IMAGE|$RUN_IMAGE) " >&2 || true
log "done in $(elapsed)s"
