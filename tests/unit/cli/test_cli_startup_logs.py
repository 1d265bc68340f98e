"""``config_reloader.logs``: importing it costs nothing on the start-up path (no logging, json,
urllib), and the lazily built formatters still write logfmt / JSON with the ``extra=`` fields."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import childproc
import pytest

from config_reloader import logs


def test_import_pulls_in_no_logging() -> None:
    code = (
        "import sys; before = set(sys.modules); import config_reloader.logs; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = childproc.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "config_reloader.logs" in out
    assert [m for m in out if m.split(".")[0] in ("logging", "json", "urllib", "typing")] == []


@pytest.fixture
def restore_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("config_reloader")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_logfmt_and_json_output(restore_logger: logging.Logger) -> None:
    stream = io.StringIO()
    logs.setup_logging("logfmt", "debug", stream)
    logging.getLogger("config_reloader.reconcile").info(
        "reload triggered", extra={"cfg_path": "/etc/a b.yaml", "attempt": 2}
    )
    line = stream.getvalue().strip()
    assert 'caller=reconcile msg="reload triggered"' in line
    assert 'cfg_path="/etc/a b.yaml" attempt=2' in line and line.startswith("ts=")
    assert isinstance(restore_logger.handlers[0].formatter, logs.LogfmtFormatter)

    stream = io.StringIO()
    logs.setup_logging("json", "warn", stream)
    log = logging.getLogger("config_reloader.cpu.probe")
    log.info("not shown at warn")
    log.warning("cpu backend unavailable", extra={"backend": "dev-cpu"})
    (doc,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert doc["level"] == "warn" and doc["backend"] == "dev-cpu" and doc["caller"] == "cpu.probe"
    assert len(restore_logger.handlers) == 1  # replaced, not added


def test_bad_arguments_and_redaction() -> None:
    with pytest.raises(ValueError, match="log format"):
        logs.setup_logging("xml")
    with pytest.raises(ValueError, match="log level"):
        logs.setup_logging("logfmt", "trace")
    assert logs.redact_url("http://u:pw@h:9090/-/reload") == "http://***@h:9090/-/reload"
    assert logs.redact_url("http://h/-/reload") == "http://h/-/reload"
    with pytest.raises(AttributeError):
        _ = logs.NoSuchFormatter


def test_logfmt_booleans_are_lower_case(restore_logger: logging.Logger) -> None:
    stream = io.StringIO()
    logs.setup_logging("logfmt", "info", stream)
    logging.getLogger("config_reloader.cli.run").info("condition checked", extra={"passed": True, "x": False})
    line = stream.getvalue().strip()
    assert "passed=true x=false" in line, line


_UNCONFIGURED = """
import asyncio, sys
from config_reloader import Reloader, ReloaderOptions
from config_reloader.testing import wait_until

class Never:
    method = "http"
    async def trigger(self) -> None:
        raise AssertionError("no reload without a config file")

async def main() -> None:
    r = Reloader(ReloaderOptions(config_file=sys.argv[1], watch_interval=3600), action=Never())
    task = asyncio.create_task(r.run())
    await wait_until(lambda: r._owner._apply_error is not None, timeout=20)  # logged by then
    task.cancel()

asyncio.run(main())
"""


def test_library_errors_keep_their_fields_when_logging_is_not_configured(tmp_path: Path) -> None:
    """An application that configures no logging still sees why an apply failed (Python's own
    last-resort handler would print the constant message alone)."""
    missing = tmp_path / "missing.yml"
    r = childproc.run(
        [sys.executable, "-c", _UNCONFIGURED, str(missing)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if "apply failed" in x)
    assert f"config file {missing} does not exist" in line and "level=error" in line, r.stderr


_CONFIGURED = """
import logging, sys
from config_reloader import Reloader, ReloaderOptions
logging.basicConfig(stream=sys.stdout, format="APP %(message)s")
Reloader(ReloaderOptions(config_file=sys.argv[1]))
logging.getLogger("config_reloader.reconcile").error("apply failed", extra={"err": "boom"})
"""


def test_library_fallback_stays_silent_once_the_application_logs(tmp_path: Path) -> None:
    r = childproc.run(
        [sys.executable, "-c", _CONFIGURED, str(tmp_path / "c.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "APP apply failed" and r.stderr == ""


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
@pytest.mark.parametrize("level", ["debug", "info", "warn", "error", "none"])
def test_line_log_writes_what_the_logging_handler_writes(
    restore_logger: logging.Logger, fmt: str, level: str
) -> None:
    """The one-shot render's LineLog (no logging module) and setup_logging's handler: the same
    lines for the same calls, at every level (the time stamp aside)."""
    calls = [
        ("info", "rendered once (--watch-interval=0): exiting", {"out": "/o/p.yaml"}),
        ("warning", "unset environment variables left verbatim", {"vars": "A,B", "cfg_in": "/a b"}),
        ("error", "render failed", {"err": 'say "no"\n', "n": 3, "ok": False, "xs": ["a", 1]}),
        ("debug", "details", None),
    ]
    via_logging, via_line = io.StringIO(), io.StringIO()
    logs.setup_logging(fmt, level, via_logging)
    line_log = logs.LineLog("config_reloader.cli.watch", fmt, level, via_line)
    for method, msg, extra in calls:
        getattr(logging.getLogger("config_reloader.cli.watch"), method)(msg, extra=extra)
        getattr(line_log, method)(msg, extra=extra)

    def without_ts(text: str) -> list[str]:
        return [x.split(" ", 1)[1] if fmt == "logfmt" else x.split('", ', 1)[1] for x in text.splitlines()]

    assert without_ts(via_line.getvalue()) == without_ts(via_logging.getvalue())
    assert (
        len(via_line.getvalue().splitlines())
        == {"debug": 4, "info": 3, "warn": 2, "error": 1, "none": 0}[level]
    )
    assert line_log.isEnabledFor(30) == logging.getLogger("config_reloader.cli.watch").isEnabledFor(30)
    with pytest.raises(ValueError, match="unknown log level"):
        logs.LineLog("x", "logfmt", "loud")


def test_line_log_time_stamp_is_the_logging_one() -> None:
    stream = io.StringIO()
    logs.LineLog("config_reloader.cli.watch", "logfmt", "info", stream).info("m")
    ts = stream.getvalue().split(" ", 1)[0]
    assert ts.startswith("ts=") and ts.endswith("Z") and len(ts) == len("ts=2026-12-06T22:09:22.541Z")
