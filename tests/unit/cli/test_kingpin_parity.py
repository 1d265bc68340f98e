"""prometheus-config-reloader parity of the command line: kingpin's manners (no abbreviations,
one-line errors with a suggestion, help/man/completion flags), logs on stdout, ``--log-level=none``
silent, ``prometheus_config_reloader_build_info``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import childproc
import pytest

from config_reloader.buildinfo import BUILD_INFO_NAME, build_info
from config_reloader.cli import build_parser, main


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "argv",
    [
        [
            "watch",
            "--config-file=/c",
            "--reload-ur=http://127.0.0.1:1/",
        ],  # argparse took this as --reload-url
        ["watch", "--config-file=/c", "--watch-int", "1s"],
        ["watch", "--conf=/c"],
    ],
)
def test_abbreviated_flags_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, not the usage
    assert "unknown flag" in err and "did you mean --" in err


def test_unknown_flag_names_the_nearest_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["watch", "--config-file=/c", "--reload-timout=5s"])
    err = capsys.readouterr().err
    assert err == (
        "config-reloader watch: error: unknown flag --reload-timout; did you mean --reload-timeout? "
        "(see config-reloader watch --help)\n"
    )


def test_bad_choice_is_one_line_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["watch", "--config-file=/c", "--reload-method=sginal"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'signal'?" in err and "usage:" not in err


def test_bad_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["watch", "--config-file=/c", "--watch-interval=soon"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--watch-interval" in err and "usage:" not in err


def test_help_long_and_man(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--help-long"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert "--reload-basic-auth-password-file" in out and "ConditionCPUFeature" in out  # every command
    with pytest.raises(SystemExit):
        main(["watch", "--help-man"])
    man = capsys.readouterr().out
    assert man.startswith('.TH "CONFIG-RELOADER-WATCH" "1"')
    assert "\\fB\\-\\-reload\\-url\\fR=URL" in man
    assert ".SH FLAGS" in man


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (groff) to render the page")
def test_man_page_renders(tmp_path: Path) -> None:
    page = tmp_path / "config-reloader-watch.1"
    page.write_text(cli("watch", "--help-man").stdout)
    r = childproc.run(
        ["man", str(page)], capture_output=True, text=True, timeout=60, env={**os.environ, "MANPAGER": "cat"}
    )
    assert r.returncode == 0, r.stderr
    assert "reload-url" in r.stdout


def test_completion_protocol() -> None:
    parser = build_parser()
    assert "watch" in parser.completions([])
    flags = parser.completions(["watch", "--config-file=/c"])
    assert "--reload-url" in flags and "--reload-tls-ca-file" in flags
    assert "--completion-bash" not in flags  # hidden, as in kingpin
    assert parser.completions(["watch", "--reload-method"]) == ["http", "signal", "command"]
    assert parser.completions(["watch", "--config-file"]) == []  # a path: the shell completes it
    r = cli("--completion-bash", "watch", "--log-format")
    assert r.returncode == 0 and r.stdout.split() == ["logfmt", "json"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_completes_through_the_program(tmp_path: Path) -> None:
    script = cli("watch", "--completion-script-bash").stdout
    assert "complete -F" in script
    # Run the generated function the way bash's completion would, with the program on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "config-reloader"
    prog.write_text(f'#!/bin/sh\nexec {sys.executable} -m config_reloader "$@"\n')
    prog.chmod(0o755)
    driver = (
        script
        + "COMP_WORDS=(config-reloader watch --reload-meth); COMP_CWORD=2\n"
        + "_config_reloader_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
        + "COMP_WORDS=(config-reloader watch --reload-method ht); COMP_CWORD=3\n"
        + "_config_reloader_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    r = childproc.run(["bash", "-c", driver], capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout.split() == ["--reload-method", "http"], r.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completion_script_parses(tmp_path: Path) -> None:
    script = cli("watch", "--completion-script-zsh").stdout
    r = childproc.run(["zsh", "-n", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_logs_go_to_stdout_and_none_is_silent(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    out = tmp_path / "out.yml"
    argv = ["watch", f"--config-file={missing}", f"--config-envsubst-file={out}", "--watch-interval=0"]
    r = cli(*argv)
    assert r.returncode == 1
    assert "level=error" in r.stdout and "render failed" in r.stdout  # errors too, as the Go reloader
    assert r.stderr == ""
    quiet = cli(*argv, "--log-level=none")
    assert quiet.returncode == 1
    assert (quiet.stdout, quiet.stderr) == ("", "")


def test_build_info_metric() -> None:
    from config_reloader.reconcile.service import cli_registry

    info = build_info()
    assert set(info) == {
        "version",
        "revision",
        "branch",
        "python_version",
        "python_implementation",
        "os",
        "arch",
    }
    assert "goversion" not in info  # not Go: the labels say what they are
    assert info["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert cli_registry().get_sample_value(BUILD_INFO_NAME, info) == 1


def test_build_info_revision_is_the_checkout() -> None:
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not running from a git checkout")
    head = childproc.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    import config_reloader

    if not str(Path(config_reloader.__file__).resolve()).startswith(str(root)):
        pytest.skip("the package is not installed from this checkout")
    assert build_info()["revision"] == head.stdout.strip()
