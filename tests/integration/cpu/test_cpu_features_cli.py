"""`config-reloader cpu-features`: output, exit statuses, captures, cheap start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import childproc
import pytest

from config_reloader.cli import main

HERE = Path(__file__).resolve()


def _dumps() -> Path:
    for cand in (HERE.parents[2] / "data" / "cpuid-dumps",):
        if (cand / "README.md").exists():
            return cand
    pytest.fail("tests/data/cpuid-dumps is missing from the checkout")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", "cpu-features", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_summary_of_a_hybrid_capture(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "cpu-features",
            "--cpu-data",
            str(_dumps() / "intel-alderlake-i9-12900k.txt"),
            "avx2",
            "PCLMUL",
            "avx512f",
            "x86-64-v3",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "backend: capture:cpuid-r" in out
    assert "core types: atom:16-23  core:0-15" in out
    assert "2 kinds: 0-15  16-23" in out  # P and E cores differ in cache/topology leaves, not ISA
    assert "note: cpuid -r dump has no XCR0" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[-4:]}
    assert rows["avx2"] == ["yes", "yes", "unknown"]  # no kernel view in a cpuid -r dump
    assert rows["pclmulqdq"][:2] == ["yes", "yes"]
    assert rows["avx512f"][:2] == ["no", "no"]
    assert rows["x86-64-v3"][:2] == ["yes", "yes"]


def test_per_cpu_and_differing_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _dumps()
    sys.path.insert(0, str(HERE.parents[2] / "unit/cpu"))
    from cpu_fakes import concat_dumps

    mixed = tmp_path / "mixed.txt"  # synthetic: 16 AVX-512 CPUs then 24 without
    mixed.write_text(
        concat_dumps(
            (d / "intel-alderlake-i9-12900k-pcores-avx512.txt").read_text(),
            (d / "intel-alderlake-i9-12900k.txt").read_text(),
        )
    )
    assert main(["cpu-features", "--cpu-data", str(mixed), "avx512f", "--view", "usable"]) == 0
    out = capsys.readouterr().out
    assert "yes:0-15 no:16-39" in out
    assert main(["cpu-features", "--cpu-data", str(mixed), "--per-cpu", "avx512f"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[0] == "avx512f" and row[1:17] == ["y"] * 16 and row[17:] == ["-"] * 24
    assert main(["cpu-features", "--cpu-data", str(mixed), "--pin-set", "avx512f", "avx512bw"]) == 0
    assert capsys.readouterr().out.strip() == "0-15"


def test_pin_set_empty_exit_1_unknown_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    f = str(_dumps() / "intel-sandybridge-e-i7-3930k.txt")
    assert main(["cpu-features", "--cpu-data", f, "--pin-set", "avx2"]) == 1
    out, err = capsys.readouterr()
    assert "no CPU has all of avx2" in err
    assert out == ""  # nothing on stdout, not even an empty line (as documented)
    assert main(["cpu-features", "--cpu-data", f, "--pin-set", "avx22"]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert main(["cpu-features", "--cpu-data", f, "avx-512"]) == 2
    assert main(["cpu-features", "--cpu-data", "/nonexistent/file"]) == 2


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    f = str(_dumps() / "intel-sapphirerapids-xeon-w7-2475x.txt")
    assert main(["cpu-features", "--cpu-data", f, "--json", "amx_tile", "avx512_fp16", "amx-fp16"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["backend"] == "capture:cpuid-r" and len(doc["cpus"]) == 40
    assert doc["features"]["amx_tile"]["usable"]["all"] is True
    assert doc["features"]["avx512_fp16"]["usable"]["all"] is True
    assert doc["features"]["amx_fp16"]["cpu"]["all"] is False
    assert doc["features"]["amx_tile"]["kernel"]["all"] is None
    assert "x86-64-v4" in doc["cpus"]["0"]["levels"]


# A feature every CPU of this architecture has, and two more to compare (x86-64 or arm64).
ARM64 = os.uname().machine == "aarch64"
BASE, *OTHERS = ("fp", "asimd", "sve") if ARM64 else ("sse2", "avx2", "x86-64-v2")


def test_live_dump_roundtrip_through_stdin() -> None:
    dumped = cli("--dump", "-")
    assert dumped.returncode == 0, dumped.stderr
    doc = json.loads(dumped.stdout)
    assert doc["format"] == "config-reloader/cpu-capture"
    live = cli("--json", BASE, *OTHERS)
    back = cli("--cpu-data", "-", "--json", BASE, *OTHERS, stdin=dumped.stdout)
    assert live.returncode == back.returncode == 0, (live.stderr, back.stderr)
    a, b = json.loads(live.stdout), json.loads(back.stdout)
    assert a["features"] == b["features"]
    assert a["features"][BASE]["usable"]["all"] is True


def test_dump_to_file_is_atomic_and_readable(tmp_path: Path) -> None:
    target = tmp_path / "cap.json"
    r = cli("--dump", str(target))
    assert r.returncode == 0, r.stderr
    r2 = cli("--cpu-data", str(target), "--pin-set", BASE)
    assert r2.returncode == 0 and r2.stdout.strip()
    assert [p.name for p in tmp_path.iterdir()] == ["cap.json"]  # no temp file left


@pytest.mark.parametrize("where", ["missing-dir/cap.json", "a-file/cap.json"])
def test_dump_to_unwritable_path_is_a_one_line_error_exit_2(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / where
    r = cli("--dump", str(target))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("config-reloader cpu-features: cannot write CPU capture")
    assert str(target) in lines[0]
    assert "No such file or directory" in lines[0] or "Not a directory" in lines[0]
    assert r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing half-written


def test_module_import_is_light() -> None:
    code = (
        "import sys; import config_reloader.cli.cpu_features; "
        "print(sorted(m for m in ('ctypes', 'mmap', 'json', 'config_reloader.cpu.cpuid', "
        "'config_reloader.cpu.probe') if m in sys.modules))"
    )
    r = childproc.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    code2 = (
        "import sys; import config_reloader.cpu as c; c.resolve_feature('avx2'); "
        "c.parse_capture; print('ctypes' in sys.modules)"
    )
    r2 = childproc.run([sys.executable, "-c", code2], capture_output=True, text=True, timeout=60, check=False)
    assert r2.stdout.strip() == "False", r2.stderr
