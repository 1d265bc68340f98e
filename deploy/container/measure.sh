#!/usr/bin/env bash
# Measure the container images: build time (from nothing with --from-nothing: removes the images
# and rebuilds the Debian base too), image sizes, and the cold start of `config-reloader --version`:
#   - `podman run --rm` wall time (create + start the container + the process), and
#   - the process alone, started fresh inside a running container (python3 + our CLI import).
# Median of N runs (default 10). Prints one `name value unit` line per figure.
#
#   deploy/container/measure.sh [--from-nothing] [N]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
BASE_IMAGE=${BASE_IMAGE:-localhost/config-reloader-base:bookworm-r2}
IMAGE=${IMAGE:-localhost/config-reloader:latest}
PROM_IMAGE=${PROM_IMAGE:-localhost/config-reloader-prometheus:bookworm}
RUN_IMAGE=${RUN_IMAGE:-localhost/config-reloader-run:latest}

from_nothing=0
n=10
for arg in "$@"; do
  case "$arg" in
    --from-nothing) from_nothing=1 ;;
    [0-9]*) n=$arg ;;
    *) echo "measure.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

now() { date +%s%N; }
if [ "$from_nothing" = 1 ]; then
  podman rmi -f "$RUN_IMAGE" "$PROM_IMAGE" "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1 || true
  podman image prune -f >/dev/null 2>&1 || true
  t0=$(now)
  "$here/build.sh" --rebuild-base >/dev/null 2>&1
  echo "build_from_nothing $(( ($(now) - t0) / 1000000 )) ms"
fi
t0=$(now)
"$here/build.sh" >/dev/null 2>&1
echo "build_cached $(( ($(now) - t0) / 1000000 )) ms"

for img in "$BASE_IMAGE" "$IMAGE" "$PROM_IMAGE" "$RUN_IMAGE"; do
  echo "image_size[$img] $(podman image inspect --format '{{.Size}}' "$img") bytes"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }

podman run --rm --network none --read-only "$IMAGE" --version >/dev/null   # warm the storage
for _ in $(seq "$n"); do
  t0=$(now)
  podman run --rm --network none --read-only --read-only-tmpfs=false "$IMAGE" --version >/dev/null
  echo $(( ($(now) - t0) / 1000000 ))
done | median | sed 's/^/podman_run_version_median /; s/$/ ms/'

podman run --rm --network none --read-only --read-only-tmpfs=false --entrypoint python3 "$IMAGE" -c "
import statistics, subprocess, time
runs = []
for _ in range($n):
    t = time.perf_counter()
    subprocess.run(['/opt/config-reloader/bin/config-reloader', '--version'], check=True, stdout=subprocess.DEVNULL)
    runs.append((time.perf_counter() - t) * 1000)
bare = []
for _ in range($n):
    t = time.perf_counter()
    subprocess.run(['python3', '-c', 'pass'], check=True)
    bare.append((time.perf_counter() - t) * 1000)
print(f'in_container_version_median {statistics.median(runs):.0f} ms')
print(f'in_container_bare_python_median {statistics.median(bare):.0f} ms')
"
