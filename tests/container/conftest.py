"""Fixtures for the podman end-to-end tests (marker ``container``): see podman_helpers.py.

``podman_works`` skips (reason printed) where podman cannot run a trivial container;
``images`` builds the images once per session with deploy/container/build.sh (a failed build is
a failure); ``podman`` is a :class:`podman_helpers.Podman` that removes what it created.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator

import childproc
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from podman_helpers import (
    BUILD_SH,
    IMAGE,
    PROM_IMAGE,
    RUN_IMAGE,
    BuiltImages,
    Podman,
    podman_cannot_run_containers,
    podman_env,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.container)
            # The first test also pays for the session's image build (about 70 s from nothing,
            # more on a loaded machine); pytest-timeout counts fixture setup.
            item.add_marker(pytest.mark.timeout(900))


@pytest.fixture(scope="session")
def podman_works(tmp_path_factory: pytest.TempPathFactory) -> str:
    reason = podman_cannot_run_containers(tmp_path_factory.mktemp("podman-probe"))
    if reason is None and os.geteuid() != 0:
        reason = "deploy/container/build.sh builds the base image with mmdebstrap --mode=root: needs root"
    if reason is not None:
        print(f"\nSKIP container tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return shutil.which("podman") or "podman"


@pytest.fixture(scope="session")
def images(podman_works: str) -> BuiltImages:
    """Build (or refresh) the images once per session with deploy/container/build.sh."""
    t0 = time.monotonic()
    env = podman_env() | {"IMAGE": IMAGE, "PROM_IMAGE": PROM_IMAGE, "RUN_IMAGE": RUN_IMAGE}
    r = childproc.run(["bash", str(BUILD_SH)], capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        pytest.fail(f"deploy/container/build.sh failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-4000:]}")
    took = time.monotonic() - t0
    print(f"\ncontainer images built in {took:.1f}s:\n{r.stderr.strip()}", file=sys.stderr)
    return BuiltImages(IMAGE, PROM_IMAGE, RUN_IMAGE, took)


@pytest.fixture
def podman(images: BuiltImages) -> Iterator[Podman]:
    p = Podman(shutil.which("podman") or "podman")
    try:
        yield p
    finally:
        p.cleanup()
