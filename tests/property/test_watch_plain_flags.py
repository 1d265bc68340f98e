"""The plain-flag reader of ``watch`` (cli.watchflags.parse_plain) means what argparse means.

For any command line of ``--flag=value`` made of the flags it reads, with values valid or not:
either both readers accept it and give the same settings (ReloaderOptions, log format and level,
web config path), or both refuse it (``parse_plain`` returns None and the argparse path fails with
its usual message). Other command lines are handed to argparse untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config_reloader.cli import build_parser
from config_reloader.cli.watch import watch_options_from_args
from config_reloader.cli.watchflags import PLAIN_SETTINGS, WatchSettings, flag_of, parse_plain

_DURATIONS = ["0", "5s", "500ms", "1m30s", "1.5h", "0s", "-1s", "5", "x", ""]
_URLS = [
    "http://127.0.0.1:9090/-/reload",
    "http://127.0.0.1:9091/-/reload",
    "https://prometheus:9090/-/reload?x=1",
    "http://bad host/",
    "ftp://h/",
    "",
]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plain")
    (root / "rules").mkdir()
    (root / "file").write_text("x")
    (root / "config.yaml").write_text("x")
    return root


def _values(root: Path) -> dict[str, list[str]]:
    paths = [str(root / "config.yaml"), "relative.yaml", str(root / "out.yaml"), ""]
    return {
        "--config-file": paths,
        "--config-envsubst-file": [*paths, str(root / "config.yaml")],  # the same file: refused
        "--watched-dir": [str(root / "rules"), str(root / "missing"), str(root / "file"), ""],
        "--statefulset-ordinal-from-envvar": ["POD_NAME", "HOSTNAME", ""],
        "--max-config-size": ["1", "32MiB", "512KiB", "0", "x"],
        "--watch-interval": _DURATIONS,
        "--delay-interval": _DURATIONS,
        "--retry-interval": _DURATIONS,
        "--reload-timeout": _DURATIONS,
        "--reload-url": _URLS,
        "--runtimeinfo-url": [*_URLS, "http://127.0.0.1:9090/api/v1/status/runtimeinfo"],
        "--listen-address": [":8080", "127.0.0.1:0", "[::1]:9", "host-name:1", ":99999", "bad", ""],
        "--web-config-file": [str(root / "web.yml"), ""],
        "--log-level": ["all", "debug", "INFO", "warning", "none", "error", "loud"],
        "--log-format": ["logfmt", "json", "xml"],
    }


def _argparse_settings(argv: list[str]) -> WatchSettings | None:
    """What ``config-reloader watch ARGV`` means through argparse; None when it exits 2."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            args = build_parser("watch").parse_args(["watch", *argv])
        except SystemExit:
            return None
    assert isinstance(args, argparse.Namespace)
    try:
        options = watch_options_from_args(args)
    except ValueError:
        return None
    return WatchSettings(
        options=options,
        log_format=args.log_format,
        log_level=args.log_level,
        web_config_file=args.web_config_file,
    )


@st.composite
def _argv(draw: st.DrawFn, root: Path) -> list[str]:
    values = _values(root)
    flags = draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=8))
    return [f"{flag}={draw(st.sampled_from(values[flag]))}" for flag in flags]


def test_every_plain_setting_has_a_flag_of_the_table(layout: Path) -> None:
    assert {flag_of(s) for s in PLAIN_SETTINGS} | {"--log-level", "--log-format"} == set(_values(layout))


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_plain_reader_and_argparse_agree(layout: Path, data: st.DataObject) -> None:
    argv = data.draw(_argv(layout))
    assert parse_plain(argv) == _argparse_settings(argv), argv


@pytest.mark.parametrize(
    "argv",
    [
        ["--config-file=a.yaml", "--watch-interval=0"],
        ["--config-file=a.yaml", "--reload-url=http://127.0.0.1:9090/-/reload", "--watched-dir=/tmp"],
        ["--config-file=a.yaml", "--reload-url=http://a:1/", "--reload-url=http://b:1/", "--log-level=all"],
    ],
)
def test_the_operators_command_lines_are_read_without_argparse(argv: list[str]) -> None:
    fast = parse_plain(argv)
    assert fast is not None
    assert fast == _argparse_settings(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--version"],
        ["--config-file", "a.yaml"],  # the value in the next word: argparse's business
        ["--config-file=a.yaml", "--reload-method=signal"],  # not a plain flag
        ["--config-file=a.yaml", "--strict-env"],
        ["--config-file=a.yaml", "--watch-interval=soon"],
        ["--config-file=a.yaml", "--reload-url=http://a:1/", "--reload-url=http://a:1/"],
        ["--config-file=a.yaml", "--reload-url=http://u:pw@127.0.0.1:1/"],  # warned about there
        ["--config-file=a.yaml", "--runtimeinfo-url=http://u@127.0.0.1:1/"],
        ["--config-fil=a.yaml"],  # no abbreviations, and the error names the nearest flag
        ["--config-file=a.yaml", "extra"],
        ["-h"],
    ],
)
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert parse_plain(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--config-file=a.yaml", "--config-file=b.yaml"],
        ["--config-file=a.yaml", "--watch-interval=0", "--watch-interval=0"],
        ["--config-file=a.yaml", "--web-config-file=", "--web-config-file="],
        ["--config-file=a.yaml", "--log-level=info", "--log-level=debug"],
        ["--config-file=a.yaml", "--log-format=json", "--log-format=json"],
    ],
)
def test_a_single_value_flag_given_twice_is_refused_by_both(argv: list[str]) -> None:
    """kingpin: "flag 'config-file' cannot be repeated"; the last one does not silently win."""
    assert parse_plain(argv) is None
    assert _argparse_settings(argv) is None


def test_repeatable_flags_stay_repeatable(layout: Path) -> None:
    argv = [
        f"--config-file={layout / 'config.yaml'}",
        f"--watched-dir={layout / 'rules'}",
        f"--watched-dir={layout / 'missing'}",
        "--reload-url=http://a:1/",
        "--reload-url=http://b:1/",
    ]
    fast = parse_plain(argv)
    assert fast is not None and fast == _argparse_settings(argv)
    assert fast.options.watched_dirs == (str(layout / "rules"), str(layout / "missing"))
    assert fast.options.reload_urls == ("http://a:1/", "http://b:1/")
