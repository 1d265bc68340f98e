"""ReloaderMetrics / SupervisorMetrics names and values, StatusServer over real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import childproc
import pytest

from config_reloader.listen import parse_listen_address
from config_reloader.metrics import ReloaderMetrics, StatusServer, SupervisorMetrics
from config_reloader.promtext import Registry as CollectorRegistry
from config_reloader.promtext import exposition
from config_reloader.reconcile.service import cli_registry

# The # HELP / # TYPE lines of every family, as prometheus_client wrote them before the switch to
# config_reloader.promtext (the per-target families added since follow the same rules): dashboards
# and alerts see the same names, types and help texts.
FAMILIES_FILE = Path(__file__).parent / "data" / "metric_families.txt"

THANOS_NAMES = {
    # name as exposed -> type (Thanos pkg/reloader's names)
    "reloader_reloads_total": "counter",
    "reloader_reloads_failed_total": "counter",
    "reloader_last_reload_successful": "gauge",
    "reloader_last_reload_success_timestamp_seconds": "gauge",
    "reloader_config_apply_operations_total": "counter",
    "reloader_config_apply_operations_failed_total": "counter",
    "reloader_config_environment_variable_expansion_errors": "gauge",
    "reloader_watches": "gauge",
    "reloader_watch_events_total": "counter",
    "reloader_watch_errors_total": "counter",
    "reloader_info": "gauge",
}


def families(registry: CollectorRegistry) -> dict[str, str]:
    out = {}
    for fam in registry.families():
        for name, _labels, _value in fam.samples():
            out[name] = fam.type
    return out


def test_help_and_type_lines_are_unchanged() -> None:
    reg = CollectorRegistry()
    ReloaderMetrics(reg, method="http")
    SupervisorMetrics(reg)
    got = [ln for ln in exposition(reg).decode().splitlines() if ln.startswith("# ")]
    assert got == FAMILIES_FILE.read_text().splitlines()


def test_exposition_escapes_and_formats() -> None:
    reg = CollectorRegistry()
    m = ReloaderMetrics(reg, method='a"b\\c\nd')
    m.reload_succeeded(0.02)
    text = exposition(reg).decode()
    assert 'reloader_info{method="a\\"b\\\\c\\nd"} 1.0\n' in text
    assert 'reloader_reload_duration_seconds_bucket{le="0.01"} 0.0\n' in text
    assert 'reloader_reload_duration_seconds_bucket{le="0.025"} 1.0\n' in text
    assert 'reloader_reload_duration_seconds_bucket{le="+Inf"} 1.0\n' in text
    assert "reloader_reload_duration_seconds_count 1.0\n" in text
    assert "reloader_reload_duration_seconds_sum 0.02\n" in text
    assert text.endswith("\n")


def test_cli_registry_has_the_process_metrics() -> None:
    reg = cli_registry()
    text = exposition(reg).decode()
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
    ):
        assert f"# TYPE {name} " in text
        value = reg.get_sample_value(name)
        assert value is not None and value > 0, name
    assert "# TYPE process_cpu_seconds_total counter" in text


def test_every_thanos_name_with_its_type() -> None:
    reg = CollectorRegistry()
    ReloaderMetrics(reg, method="http")
    got = families(reg)
    for name, kind in THANOS_NAMES.items():
        assert got.get(name) == kind, name


def test_initial_values_match_thanos() -> None:
    reg = CollectorRegistry()
    ReloaderMetrics(reg, method="signal")
    assert reg.get_sample_value("reloader_last_reload_successful") == 0
    assert reg.get_sample_value("reloader_reloads_total") == 0
    assert reg.get_sample_value("reloader_info", {"method": "signal"}) == 1
    assert reg.get_sample_value("reloader_info", {"method": "http"}) is None
    assert reg.get_sample_value("reloader_pending_reload") == 0


def test_success_and_failure_helpers_use_injected_clock() -> None:
    reg = CollectorRegistry()
    m = ReloaderMetrics(reg, method="http", clock=lambda: 1234.5)
    m.reload_failed(0.2)
    assert reg.get_sample_value("reloader_reloads_total") == 1
    assert reg.get_sample_value("reloader_reloads_failed_total") == 1
    assert reg.get_sample_value("reloader_last_reload_successful") == 0
    m.reload_succeeded(0.03)
    assert reg.get_sample_value("reloader_reloads_total") == 2
    assert reg.get_sample_value("reloader_reloads_failed_total") == 1
    assert reg.get_sample_value("reloader_last_reload_successful") == 1
    assert reg.get_sample_value("reloader_last_reload_success_timestamp_seconds") == 1234.5
    assert reg.get_sample_value("reloader_reload_duration_seconds_count") == 2
    assert reg.get_sample_value("reloader_reload_duration_seconds_bucket", {"le": "0.05"}) == 1


def test_watch_mode_one_hot() -> None:
    reg = CollectorRegistry()
    m = ReloaderMetrics(reg, method="http")
    m.set_watch_mode("poll")
    assert reg.get_sample_value("reloader_watch_mode", {"mode": "poll"}) == 1
    assert reg.get_sample_value("reloader_watch_mode", {"mode": "inotify"}) == 0
    m.set_watch_mode("inotify")
    assert reg.get_sample_value("reloader_watch_mode", {"mode": "poll"}) == 0
    assert reg.get_sample_value("reloader_watch_mode", {"mode": "inotify"}) == 1
    with pytest.raises(ValueError, match="watch mode"):
        m.set_watch_mode("fanotify")


def test_our_counters_exist() -> None:
    reg = CollectorRegistry()
    m = ReloaderMetrics(reg, method="command")
    m.watch_overflows.inc()
    m.config_validation_failures.inc(2)
    m.pending_reload.set(1)
    assert reg.get_sample_value("reloader_watch_overflows_total") == 1
    assert reg.get_sample_value("reloader_config_validation_failures_total") == 2
    assert reg.get_sample_value("reloader_pending_reload") == 1


def test_none_registry_is_private() -> None:
    a = ReloaderMetrics(None, method="http")
    b = ReloaderMetrics(None, method="http")  # would raise on a shared registry
    assert a.registry is not b.registry


def test_duplicate_registration_fails_loudly() -> None:
    reg = CollectorRegistry()
    ReloaderMetrics(reg, method="http")
    with pytest.raises(ValueError, match="Duplicated"):
        ReloaderMetrics(reg, method="http")


def test_supervisor_metrics() -> None:
    reg = CollectorRegistry()
    ReloaderMetrics(reg, method="signal")  # both sets fit on one registry
    s = SupervisorMetrics(reg)
    s.child_running.set(1)
    s.child_restarts.inc()
    s.set_pin_cpus("0-3,8")
    assert reg.get_sample_value("reloader_child_running") == 1
    assert reg.get_sample_value("reloader_child_restarts_total") == 1
    assert reg.get_sample_value("reloader_pin_cpus", {"cpulist": "0-3,8"}) == 1
    s.set_pin_cpus("0-1")
    assert reg.get_sample_value("reloader_pin_cpus", {"cpulist": "0-3,8"}) is None
    assert reg.get_sample_value("reloader_pin_cpus", {"cpulist": "0-1"}) == 1
    s.child_exited(-15)
    assert reg.get_sample_value("reloader_child_running") == 0
    assert reg.get_sample_value("reloader_child_last_exit_status") == -15


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        (":8080", (None, 8080)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9090", ("::1", 9090)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_parse_listen_address(addr: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen_address(addr) == expected


@pytest.mark.parametrize(
    "addr", ["8080", "host:", "host:http", ":70000", "[::1:80", ":\u00b2", "bad_host:80", "::1:80"]
)
def test_parse_listen_address_rejects(addr: str) -> None:
    with pytest.raises(ValueError, match="listen address"):
        parse_listen_address(addr)


async def test_status_server_serves_metrics_healthz_ready() -> None:
    reg = CollectorRegistry()
    m = ReloaderMetrics(reg, method="http")
    m.reload_succeeded(0.01)
    state = {"ready": False}
    server = StatusServer(
        "127.0.0.1:0", reg, ready=lambda: state["ready"], not_ready_reason=lambda: "no successful reload yet"
    )
    await server.start()
    try:
        assert server.port > 0
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(base + "/metrics") as r:
                text = await r.text()
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
            assert "reloader_reloads_total 1.0" in text
            assert 'reloader_info{method="http"} 1.0' in text
            assert "reloader_last_reload_successful 1.0" in text
            # Prometheus asks for OpenMetrics first; like prometheus-config-reloader we answer
            # in text format 0.0.4, which it accepts.
            async with s.get(base + "/metrics", headers={"Accept": "application/openmetrics-text"}) as r:
                assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                assert "# TYPE reloader_reloads_total counter" in await r.text()
            async with s.get(base + "/healthz") as r:  # prometheus-config-reloader's answer
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("application/json")
                assert await r.json() == {"status": "up"}
            async with s.get(base + "/ready") as r:
                assert r.status == 503
                assert "no successful reload yet" in await r.text()
            state["ready"] = True
            async with s.get(base + "/ready") as r:
                assert r.status == 200
    finally:
        await server.stop()
        await server.stop()  # idempotent


async def test_status_server_all_interfaces_port_zero_gives_one_port() -> None:
    reg = CollectorRegistry()
    async with (
        StatusServer(":0", reg, ready=lambda: True) as server,
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{server.port}/healthz") as r,
    ):
        assert r.status == 200


async def test_status_server_port_in_use_raises_oserror() -> None:
    reg = CollectorRegistry()
    async with StatusServer("127.0.0.1:0", reg, ready=lambda: True) as first:
        second = StatusServer(f"127.0.0.1:{first.port}", reg, ready=lambda: True)
        with pytest.raises(OSError):
            await second.start()


def test_build_info_labels_are_read_at_the_first_scrape() -> None:
    import sys

    from config_reloader import buildinfo, metrics

    assert metrics.BUILD_INFO_NAME == buildinfo.BUILD_INFO_NAME
    # In a fresh interpreter: registering does not import buildinfo (importlib.metadata), a scrape does.
    code = (
        "import sys\n"
        "from config_reloader.reconcile.service import cli_registry\n"
        "from config_reloader.promtext import exposition\n"
        "reg = cli_registry()\n"
        "print('config_reloader.buildinfo' in sys.modules)\n"
        "text = exposition(reg).decode()\n"
        "print('config_reloader.buildinfo' in sys.modules,"
        " 'prometheus_config_reloader_build_info{' in text)\n"
        # the first scrape stays cheap: no importlib.metadata (email, csv, zipfile, urllib), no platform
        "print(*(m in sys.modules for m in ('importlib.metadata', 'platform', 'email', 'urllib.parse')))\n"
    )
    out = childproc.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "True", "True", "False", "False", "False", "False"], out


def test_build_info_labels_match_platform_and_the_vcs_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform

    from config_reloader.buildinfo import build_info

    info = build_info()
    assert info["python_version"] == platform.python_version()
    assert info["python_implementation"] == platform.python_implementation()
    assert info["arch"] == platform.machine()
    dist = tmp_path / "config_reloader-9.9.dist-info"
    dist.mkdir()
    (dist / "direct_url.json").write_text(
        '{"url": "git+https://example.com/cr.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert build_info()["revision"] == "abc123"
