"""`config-reloader watch` flag parsing: prometheus-config-reloader names, defaults and meaning."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import pytest

from config_reloader.cli import build_parser, main
from config_reloader.cli.watch import add_watch_arguments, parse_signal, watch_options_from_args
from config_reloader.reconcile import ReloaderOptions


def parse(*argv: str) -> ReloaderOptions:
    args = build_parser().parse_args(["watch", *argv])
    return watch_options_from_args(args)


def test_defaults_match_prometheus_config_reloader() -> None:
    o = parse("--config-file=/etc/prometheus/prometheus.yaml.gz")
    assert o.reload_url == "http://127.0.0.1:9090/-/reload"
    assert o.runtimeinfo_url == "http://127.0.0.1:9090/api/v1/status/runtimeinfo"
    assert o.reload_method == "http"
    assert o.process_executable_name == "prometheus"
    assert (o.watch_interval, o.delay_interval, o.retry_interval, o.reload_timeout) == (180.0, 1.0, 5.0, 30.0)
    assert o.listen_address is None
    assert o.statefulset_ordinal_from_envvar == "POD_NAME"
    assert o.reload_signal == signal.SIGHUP
    assert not o.strict_env and o.validate_command is None and o.pid_file is None
    assert o.config_envsubst_file is None and o.watched_dirs == ()


def test_kingpin_style_equals_and_space_forms_both_work() -> None:
    a = parse(
        "--config-file=/c/in.yaml.gz",
        "--config-envsubst-file=/o/out.yaml",
        "--watched-dir=/r1",
        "--watched-dir",
        "/r2",
        "--watch-interval=1m30s",
        "--delay-interval",
        "0",
        "--retry-interval=250ms",
        "--reload-timeout",
        "1h",
        "--listen-address=:8080",
        "--reload-method=signal",
        "--process-executable-name",
        "alertmanager",
        "--runtimeinfo-url=",
        "--reload-signal=USR1",
        "--pid-file=/run/p.pid",
        "--strict-env",
        "--validate-command",
        "promtool check config {}",
        "--statefulset-ordinal-from-envvar=HOSTNAME",
    )
    assert a.config_file == "/c/in.yaml.gz" and a.config_envsubst_file == "/o/out.yaml"
    assert a.watched_dirs == ("/r1", "/r2")
    assert (a.watch_interval, a.delay_interval, a.retry_interval, a.reload_timeout) == (
        90.0,
        0.0,
        0.25,
        3600.0,
    )
    assert a.listen_address == ":8080"
    assert a.reload_method == "signal" and a.process_executable_name == "alertmanager"
    assert a.runtimeinfo_url is None  # empty = no verification
    assert a.reload_signal == signal.SIGUSR1 and a.pid_file == "/run/p.pid"
    assert a.strict_env and a.validate_command == ("promtool", "check", "config", "{}")
    assert a.statefulset_ordinal_from_envvar == "HOSTNAME"


@pytest.mark.parametrize(
    ("text", "num"), [("SIGHUP", 1), ("hup", 1), ("USR2", int(signal.SIGUSR2)), ("15", 15)]
)
def test_parse_signal(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", ["SIGNOPE", "0", "999", ""])
def test_parse_signal_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="unknown signal"):
        parse_signal(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["--watch-interval=3 minutes"],
        ["--delay-interval=-1s"],
        ["--reload-method=POST"],
        ["--reload-signal=SIGNOPE"],
        ["--log-format=text"],
        ["--log-level=trace"],
        ["--listen-address=8080"],
        ["--listen-address=256.1.1.1:80"],
        ["--listen-address=127.0.0.1:65536"],
        ["--listen-address=::1:80"],
        ["--listen-address=bad_host!:80"],
        ["--reload-url=notaurl"],
        ["--reload-url=ftp://127.0.0.1/-/reload"],
        ["--reload-url=http://127.0.0.1:99999/-/reload"],
        ["--runtimeinfo-url=127.0.0.1:9090"],
    ],
)
def test_bad_flags_exit_2_with_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["watch", "--config-file=/x", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert argv[0].split("=")[0].lstrip("-") in err


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9090/-/reload?token=s3 cret",
        "http://127.0.0.1:9090/-/reload?token=s3\tcret",
        "http://127.0.0.1:9090/-/reload?token=s3\x7fcret",
    ],
)
def test_reload_url_with_space_or_control_character_is_refused_without_its_query(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """http.client would refuse such a URL at every attempt, quoting the raw query (secrets
    included) in the logged error: refuse it at parse time, with the query values masked."""
    with pytest.raises(SystemExit) as exc:
        main(["watch", "--config-file=/x", f"--reload-url={url}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "percent-encode" in err and "token=***" in err
    assert "s3" not in err and "cret" not in err


@pytest.mark.parametrize(
    "value", [":8080", "127.0.0.1:0", "[::1]:9090", "localhost:65535", "prom-0.example.org.:80"]
)
def test_listen_address_syntax_accepted(value: str) -> None:
    assert parse(f"--listen-address={value}", "--config-file=/x").listen_address == value


def test_empty_runtimeinfo_url_means_off() -> None:
    assert parse("--runtimeinfo-url=", "--config-file=/x").runtimeinfo_url is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config-envsubst-file=/o"], "--config-envsubst-file needs --config-file"),
        ([], "nothing to watch"),
        (["--config-file=/x", "--retry-interval=0"], "--retry-interval"),
        (["--config-file=/x", "--validate-command", "'unbalanced"], "--validate-command"),
    ],
)
def test_inconsistent_flags_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", *argv]) == 2
    assert message in capsys.readouterr().err


def test_help_explains_flags_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--config-file",
        "--config-envsubst-file",
        "--watched-dir",
        "--reload-url",
        "--reload-method",
        "--process-executable-name",
        "--runtimeinfo-url",
        "--watch-interval",
        "--delay-interval",
        "--retry-interval",
        "--reload-timeout",
        "--listen-address",
        "--log-format",
        "--log-level",
        "--statefulset-ordinal-from-envvar",
        "--validate-command",
        "--reload-signal",
        "--pid-file",
        "--strict-env",
    ):
        assert flag in out
    assert "default: 3m" in out and "default: 1s" in out and "default: 5s" in out and "default: 30s" in out


def test_add_watch_arguments_is_reusable_with_another_default() -> None:
    p = argparse.ArgumentParser()
    add_watch_arguments(p, default_reload_method="signal")
    args = p.parse_args(["--watched-dir=/r"])
    assert watch_options_from_args(args).reload_method == "signal"


def test_actions_built_from_options() -> None:
    from config_reloader.reconcile import build_action
    from config_reloader.reload.http import HttpReload
    from config_reloader.reload.signal import PidFile, SignalReload
    from config_reloader.reload.verify import VerifiedReload

    http, closables = build_action(parse("--config-file=/x", "--reload-url=http://127.0.0.1:1/-/reload"))
    assert isinstance(http, HttpReload) and http.method == "http" and closables == [http]
    sig, closables = build_action(
        parse("--config-file=/x", "--reload-method=signal", "--pid-file=/run/p.pid")
    )
    assert isinstance(sig, VerifiedReload) and sig.method == "signal"
    assert isinstance(sig.inner, SignalReload) and isinstance(sig.inner.source, PidFile)
    assert sig.inner.ready is not None  # held back until runtime info answers
    assert sig in closables and sig.inner.ready in closables
    bare, _ = build_action(parse("--config-file=/x", "--reload-method=signal", "--runtimeinfo-url="))
    assert isinstance(bare, SignalReload) and bare.ready is None


@pytest.mark.parametrize(
    ("given", "level"), [("all", "debug"), ("none", "none"), ("WARN", "warn"), ("info", "info")]
)
def test_log_level_accepts_prometheus_config_reloader_values(given: str, level: str) -> None:
    args = build_parser().parse_args(["watch", "--config-file=/c", f"--log-level={given}"])
    assert args.log_level == level


def test_log_level_unknown_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["watch", "--config-file=/c", "--log-level=verbose"])
    assert exc.value.code == 2
    assert "--log-level" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "expected"), [("--short-version", r"^\d\S*\n$"), ("--version", r"^config-reloader \d")]
)
def test_version_flags_print_and_exit_0(flag: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["watch", flag])
    assert exc.value.code == 0
    assert re.match(expected, capsys.readouterr().out)


def test_auto_gomemlimit_ratio_is_accepted_and_ignored() -> None:
    args = build_parser().parse_args(["watch", "--config-file=/c", "--auto-gomemlimit-ratio=0.85"])
    assert args.auto_gomemlimit_ratio == 0.85
    assert watch_options_from_args(args) == parse("--config-file=/c")


@pytest.mark.parametrize("text", ["", "\n# comment only\n", "{}\n", "---\n"])
def test_settings_free_web_config_is_accepted(tmp_path: Path, text: str) -> None:
    from config_reloader.cli.watch import check_web_config_file

    f = tmp_path / "web.yml"
    f.write_text(text)
    check_web_config_file(str(f))
    check_web_config_file("")
    args = build_parser().parse_args(["watch", "--config-file=/c", f"--web-config-file={f}"])
    assert watch_options_from_args(args).web_config_file == str(f)


def test_web_config_mistakes_or_missing_file_are_refused(tmp_path: Path) -> None:
    from config_reloader.cli.watch import check_web_config_file

    f = tmp_path / "web.yml"
    f.write_text("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [X]}\n")
    with pytest.raises(ValueError, match="not supported"):
        check_web_config_file(str(f))
    with pytest.raises(ValueError, match="cannot read"):
        check_web_config_file(str(tmp_path / "missing.yml"))


def test_parse_duration_arg() -> None:
    from config_reloader.cli import watch

    assert watch.parse_duration_arg("1m30s") == 90.0
    with pytest.raises(argparse.ArgumentTypeError):
        watch.parse_duration_arg("5 parsecs")


def test_watch_ignore_adds_to_defaults_and_empty_clears() -> None:
    from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS

    assert parse("--config-file=/c").watch_ignore == DEFAULT_IGNORE_GLOBS
    assert parse("--config-file=/c", "--watch-ignore=*.bak").watch_ignore == (*DEFAULT_IGNORE_GLOBS, "*.bak")
    assert parse("--config-file=/c", "--watch-ignore=", "--watch-ignore", "*.bak").watch_ignore == ("*.bak",)
    assert parse("--config-file=/c", "--watch-ignore=").watch_ignore == ()


def test_watch_ignore_with_slash_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["watch", "--config-file=/c", "--watch-ignore=rules/*.tmp"])
    assert exc.value.code == 2
    assert "--watch-ignore" in capsys.readouterr().err


def test_every_setting_has_its_flag_in_the_one_table() -> None:
    """Errors of ReloaderOptions name a setting; the CLI spells it as a flag through flag_of
    (one table): every field maps to a real flag of watch and of run, except the library-only ones."""
    from config_reloader.cli.watch import flag_of

    # http_client is set by the --reload-tls-*/--reload-basic-auth-*/--reload-bearer-token-file
    # flags, which check their own values (cli/client_flags.py)
    library_only = {"retry_max_interval", "poll_interval", "http_client"}
    # run's status server takes no web config, and run has no reload-client flags
    not_on = {"watch": set(), "run": {"web_config_file", "reload_command"}}
    for command in ("watch", "run"):
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        flags = set(sub._option_string_actions)
        missing = [
            (name, flag_of(name))
            for name in ReloaderOptions._fields
            if name not in library_only | not_on[command] and flag_of(name) not in flags
        ]
        assert missing == [], command


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--watched-dir="], "--watched-dir must not contain an empty path"),
        (["--config-file=/x", "--validate-command= "], "--validate-command must not be empty"),
        (["--config-file=/x", "--reload-timeout=0"], "--reload-timeout must be > 0 seconds, got 0.0"),
    ],
)
def test_setting_errors_name_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "ReloaderOptions" not in err


def test_run_help_documents_what_run_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "restart = restart the child" in out and "send --reload-signal to the child" in out
    assert "(default: )" not in out
    # run's reload target is its child: the flags that find a process are not offered...
    assert "--process-executable-name" not in out and "--pid-file" not in out
    assert "--runtimeinfo-url URL verify each reload" in out and "(default: off)" in out


@pytest.mark.parametrize("flag", ["--pid-file=/run/p.pid", "--process-executable-name=nginx"])
def test_run_refuses_the_flags_that_find_a_process(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", flag, "--", "true"]) == 2  # ...and refused rather than ignored
    assert f"{flag.split('=')[0]} is not used by run" in capsys.readouterr().err


def test_flag_defaults_are_the_options_defaults() -> None:
    """watch/run flags take their defaults from ReloaderOptions and SuperviseOptions (defined once)."""
    import dataclasses

    from config_reloader.supervise.options import SuperviseOptions

    for cls, command in ((ReloaderOptions, "watch"), (SuperviseOptions, "run")):
        args = vars(build_parser().parse_args([command, "--", "true"] if command == "run" else [command]))
        defaults = (
            ReloaderOptions._defaults
            if cls is ReloaderOptions
            else {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        )
        for name, default in defaults.items():
            if name in args and args[name] not in (None, ""):
                assert args[name] == default, (command, name)
