"""What a user meets running the image as prometheus-operator does: the console script symlinked
as ``prometheus-config-reloader`` with bare flags, or ``config-reloader`` (the image's default
entry point) with those flags. Every start-up error is one line on stderr naming the program that
was run, ending ``(see PROG --help)``, exit 2; real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import childproc
import pytest

PCR = "prometheus-config-reloader"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A directory with ``config-reloader`` and ``prometheus-config-reloader`` (a symlink to it),
    as in the image."""
    script = Path(sys.executable).parent / "config-reloader"
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable}")
    d = tmp_path / "bin"
    d.mkdir()
    (d / "config-reloader").symlink_to(script)
    (d / PCR).symlink_to(script)
    return d


def run(program: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [str(program), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
    )


def one_error_line(r: subprocess.CompletedProcess[str], program: str) -> str:
    """The error of ``r``: exit 2, nothing on stdout, one line ``PROGRAM: error: ... (see PROGRAM
    --help)``; returns what is between."""
    assert r.returncode == 2, r
    assert r.stdout == "" and r.stderr.count("\n") == 1, r
    line = r.stderr.rstrip("\n")
    head, tail = f"{program}: error: ", f" (see {program} --help)"
    assert line.startswith(head) and line.endswith(tail), line
    assert "Traceback" not in line
    return line.removeprefix(head).removesuffix(tail)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "prometheus.yaml.gz"
    cfg.write_bytes(b"global: {}\n")
    out_dir = tmp_path / "config_out"
    out_dir.mkdir()
    return {"cfg": str(cfg), "out_dir": str(out_dir), "missing": str(tmp_path / "missing.yml")}


def _start_errors(f: dict[str, str]) -> list[tuple[list[str], str]]:
    """Command lines refused at start (after the flags were read) and what their error says."""
    return [
        (["--watch-interval=0"], "nothing to watch: give --config-file and/or --watched-dir"),
        ([f"--config-envsubst-file={f['out_dir']}/o.yaml"], "--config-envsubst-file needs --config-file"),
        ([f"--config-file={f['cfg']}", f"--watched-dir={f['cfg']}"], "is not a directory"),
        ([f"--config-file={f['cfg']}", f"--web-config-file={f['missing']}"], "cannot read"),
        ([f"--config-file={f['cfg']}", f"--config-envsubst-file={f['cfg']}"], "are the same file"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_start_errors_name_the_program_that_was_run(bin_dir: Path, files: dict[str, str], case: int) -> None:
    argv, says = _start_errors(files)[case]
    assert says in one_error_line(run(bin_dir / PCR, *argv), PCR)
    # The same command line through argparse (a flag only it reads) says the same.
    assert says in one_error_line(run(bin_dir / PCR, *argv, "--strict-env"), PCR)
    # Run as `config-reloader watch`, that is the name.
    assert says in one_error_line(run(bin_dir / "config-reloader", "watch", *argv), "config-reloader watch")


def test_an_output_path_that_is_a_directory_is_refused_at_start(bin_dir: Path, files: dict[str, str]) -> None:
    r = run(bin_dir / PCR, f"--config-file={files['cfg']}", f"--config-envsubst-file={files['out_dir']}")
    what = one_error_line(r, PCR)
    assert what.startswith(f"--config-envsubst-file {files['out_dir']} is a directory: give"), what
    assert "temp file" not in what
    assert list(Path(files["out_dir"]).iterdir()) == []


def test_a_config_file_that_is_a_directory_is_refused_at_start(bin_dir: Path, files: dict[str, str]) -> None:
    r = run(bin_dir / PCR, f"--config-file={files['out_dir']}", "--watch-interval=0")
    what = one_error_line(r, PCR)
    assert what == f"--config-file {files['out_dir']} is a directory: give the path of the config file"


@pytest.mark.parametrize(
    "flags",
    [
        ["--config-file=/a.yaml", "--config-file=/b.yaml"],  # plain flags
        ["--config-file", "/a.yaml", "--config-file=/b.yaml"],  # argparse's reader
        ["--config-file=/a.yaml", "--strict-env", "--strict-env"],
        ["--config-file=/a.yaml", "--reload-method=signal", "--reload-method=http"],
    ],
)
def test_a_single_value_flag_given_twice_is_refused_as_kingpin_does(bin_dir: Path, flags: list[str]) -> None:
    name = flags[-1].partition("=")[0].removeprefix("--")
    assert one_error_line(run(bin_dir / PCR, *flags), PCR) == f"flag '{name}' cannot be repeated"


def test_repeatable_flags_are_still_repeatable(bin_dir: Path, files: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    r = run(
        bin_dir / PCR,
        f"--config-file={files['cfg']}",
        f"--config-envsubst-file={files['out_dir']}/prometheus.env.yaml",
        f"--watched-dir={rules}",
        f"--watched-dir={tmp_path}",
        "--watch-ignore=*.bak",
        "--watch-ignore=*.old",
        "--watch-interval=0",
        "--log-level=none",
    )
    assert r.returncode == 0, r
    assert (Path(files["out_dir"]) / "prometheus.env.yaml").read_bytes() == b"global: {}\n"


def test_watch_flags_given_to_the_top_level_name_watch(bin_dir: Path) -> None:
    r = run(bin_dir / "config-reloader", "--watch-interval=0", "--config-file=/x")
    what = one_error_line(r, "config-reloader")
    assert what.startswith("--watch-interval is a flag of `config-reloader watch` ("), what
    assert "/bin/prometheus-config-reloader" in what
    # A flag of no subcommand: the nearest flag, as before.
    bogus = run(bin_dir / "config-reloader", "--bogus")
    assert one_error_line(bogus, "config-reloader") == "unknown flag --bogus"


def test_the_word_watch_after_prometheus_config_reloader_is_named(bin_dir: Path) -> None:
    what = one_error_line(run(bin_dir / PCR, "watch", "--config-file=/x"), PCR)
    assert what == (
        f"unexpected argument 'watch': {PCR} is `config-reloader watch` already; drop the word 'watch'"
    )
