#!/usr/bin/env bash
# arm64 for real on an amd64 Debian 12 machine: an arm64 Debian root filesystem (mmdebstrap) run
# under Debian's qemu-user-static, where getauxval(AT_HWCAP*) is what qemu emulates. Runs
# `config-reloader cpu-features` (and --microarch, condition) and the CPU-facing tests inside it.
#
#   tests/arm64/run.sh [--install] [PYTEST ARGS...]
#
#   --install   apt-get install what is missing (qemu-user-static binfmt-support mmdebstrap arch-test)
#
# Needs root (chroot, mounts, binfmt_misc). Not part of .ci/run: building the root filesystem
# takes ~7 minutes on the 2-core CI machine (then it is cached in $ARM64_ROOTFS) and the tests run
# ~10x slower under emulation.
#
# Environment:
#   ARM64_ROOTFS   cached root filesystem (default /var/tmp/config-reloader-arm64/rootfs;
#                  delete it to rebuild)
#
# binfmt_misc: the test suite starts subprocesses (sys.executable), so the kernel must run arm64
# ELF files through qemu by itself. The script mounts binfmt_misc and enables Debian's
# qemu-aarch64 entry (fix-binary flag: works inside the chroot). If that is refused (no
# CAP_SYS_ADMIN, a container without binfmt_misc), it says what failed and falls back to running
# the arm64 python under qemu-aarch64-static explicitly: cpu-features and condition work, the
# pytest run does not (its subprocesses could not start), and is skipped.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rootfs=${ARM64_ROOTFS:-/var/tmp/config-reloader-arm64/rootfs}
packages=(python3 python3-venv python3-pytest python3-pytest-timeout python3-pytest-asyncio
  python3-hypothesis python3-yaml python3-aiohttp python3-prometheus-client python3-bcrypt)

log() { printf 'arm64: %s\n' "$*" >&2; }

if [ "${1:-}" = "--install" ]; then
  shift
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support mmdebstrap arch-test
fi
for tool in qemu-aarch64-static mmdebstrap chroot; do
  command -v "$tool" >/dev/null || { log "$tool not found (run with --install)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { log "needs root (chroot, mount, binfmt_misc)"; exit 1; }

# 1. binfmt_misc: register qemu-aarch64 (or explain why not).
binfmt=0
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/tmp/arm64-binfmt.err \
    || log "mount binfmt_misc failed: $(cat /tmp/arm64-binfmt.err)"
fi
if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 2>/tmp/arm64-binfmt.err \
    || log "update-binfmts --enable qemu-aarch64 failed: $(cat /tmp/arm64-binfmt.err)"
fi
if grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  binfmt=1
  log "binfmt_misc: $(tr '\n' ' ' </proc/sys/fs/binfmt_misc/qemu-aarch64)"
else
  log "binfmt_misc has no enabled qemu-aarch64 entry: falling back to qemu-aarch64-static explicitly"
fi

# 2. The root filesystem (cached).
if [ ! -x "$rootfs/usr/bin/python3" ]; then
  log "building $rootfs with mmdebstrap --arch=arm64 (several minutes)"
  mkdir -p "$(dirname "$rootfs")"
  rm -rf "$rootfs"
  mmdebstrap --arch=arm64 --variant=apt --mode=root --format=directory \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --aptopt='Acquire::Retries "3"' \
    bookworm "$rootfs" http://deb.debian.org/debian </dev/null
fi
# archspec (pure Python, not in Debian 12) for the microarchitecture table
if [ ! -d "$rootfs/opt/pydeps/archspec" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" 'archspec>=0.2.7' \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
  mkdir -p "$rootfs/opt/pydeps"
  python3 -m zipfile -e "$tmp"/archspec-*.whl "$rootfs/opt/pydeps"
  rm -rf "$tmp"
fi
cp /usr/bin/qemu-aarch64-static "$rootfs/usr/bin/"
# mmdebstrap leaves /etc/machine-id absent (systemd is not installed); a booted system has one and
# ConditionHost=/ConditionFraction= read it
[ -s "$rootfs/etc/machine-id" ] || python3 -c 'import uuid; print(uuid.uuid4().hex)' >"$rootfs/etc/machine-id"

# 3. Mounts (undone on exit): /proc, /sys, the checkout (read-only; the dumps are in tests/data).
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -R "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mkdir -p "$2"; mount "${@:3}" "$1" "$2"; mounts+=("$2"); }
mount -t proc proc "$rootfs/proc" && mounts+=("$rootfs/proc")
bind /sys "$rootfs/sys" --rbind
bind "$repo" "$rootfs/src" --bind -o ro

env_vars=(PYTHONPATH=/src/src:/opt/pydeps PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LANG=C.UTF-8)
in_arm64() {
  if [ "$binfmt" = 1 ]; then
    chroot "$rootfs" /usr/bin/env -C /src "${env_vars[@]}" "$@"
  else
    chroot "$rootfs" /usr/bin/qemu-aarch64-static /usr/bin/env -C /src "${env_vars[@]}" "$@"
  fi
}
show() { printf '\n$ %s\n' "$*"; in_arm64 "$@" || printf '(exit %d)\n' "$?"; }

echo "qemu: $(qemu-aarch64-static --version | head -1)"
show /usr/bin/uname -m
show /usr/bin/env LD_SHOW_AUXV=1 /bin/true
show /bin/sh -c 'grep -m4 -E "^(processor|model name|flags|Features|CPU implementer)" /proc/cpuinfo | cut -c1-120'
show python3 -m config_reloader cpu-features
show python3 -m config_reloader cpu-features --microarch
show python3 -m config_reloader cpu-features --pin-set neoverse-v1
show python3 -m config_reloader condition ConditionCPUFeature=asimd ConditionCPUFeature=arm64.sve \
  'ConditionCPUFeature=!avx2' ConditionCPUFeature=neoverse-n1

if [ "$binfmt" = 1 ]; then
  printf '\n$ pytest (CPU-facing tests)\n'
  in_arm64 python3 -m pytest -q -p no:cacheprovider \
    tests/unit/cpu tests/integration/cpu tests/unit/conditions "$@"
else
  log "pytest skipped: without binfmt_misc the tests' arm64 subprocesses cannot start"
fi
