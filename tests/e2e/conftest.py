"""Fixtures for end-to-end tests against a real Prometheus (marker ``e2e``).

``prometheus_factory(config_file, **kw)`` starts Prometheus on a free loopback port with a temp
TSDB (see ``tests/e2e/prometheus.py``) and stops every instance at teardown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from prometheus import PrometheusProcess, prometheus_available, start_prometheus


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def prometheus_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrometheusProcess]]:
    if not prometheus_available():
        pytest.skip("prometheus binary not installed (apt-get install prometheus)")
    started: list[PrometheusProcess] = []

    def factory(config_file: str, **kw: Any) -> PrometheusProcess:
        workdir = str(tmp_path_factory.mktemp("prometheus"))
        p = start_prometheus(config_file, workdir, **kw)
        started.append(p)
        return p

    yield factory
    for p in started:
        p.stop()
