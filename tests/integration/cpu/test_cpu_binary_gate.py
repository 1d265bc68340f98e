"""`condition --binary` and `run --require-binary`: gate and pin on a real binary's ISA note, and
microarchitecture names on the command line (`condition`, `cpu-features --microarch/--pin-set`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import childproc
import pytest

from config_reloader.cpu.capture import parse_cpuid_r

HERE = Path(__file__).resolve()
MAIN_C = "int main(void) { return 0; }\n"
BARE_C = 'void _start(void) { __asm__ volatile("mov $60, %%eax; xor %%edi, %%edi; syscall" ::: "memory"); }\n'
needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None or os.uname().machine != "x86_64",
    reason="needs gcc (Debian package gcc, in the README test command) on x86-64",
)


def _dumps() -> Path:
    for cand in (HERE.parents[2] / "data" / "cpuid-dumps",):
        if (cand / "README.md").exists():
            return cand
    pytest.fail("tests/data/cpuid-dumps is missing from the checkout")


def cr(*args: str) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mixed_capture(tmp: Path, files: list[str]) -> str:
    """Not real hardware: CPU n is CPU 0 of the n-th dump (`cpuid -r` text)."""
    out: list[str] = []
    for n, name in enumerate(files):
        text = (_dumps() / name).read_text()
        first = parse_cpuid_r(text, source=name)[0]
        out.append(f"CPU {n}:")
        out.extend(
            f"   0x{leaf:08x} 0x{sub:02x}: eax=0x{a:08x} ebx=0x{b:08x} ecx=0x{c:08x} edx=0x{d:08x}"
            for (leaf, sub), (a, b, c, d) in sorted(first.items())
        )
    path = tmp / "mixed.txt"
    path.write_text("\n".join(out) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("gcc") is None or os.uname().machine != "x86_64":
        pytest.skip("needs gcc on x86-64")
    tmp = tmp_path_factory.mktemp("bins")
    out = {}
    for name, src, flags in [
        ("v3", MAIN_C, ["-mneeded", "-march=x86-64-v3"]),
        ("v4", MAIN_C, ["-mneeded", "-march=x86-64-v4"]),
        ("no-note", BARE_C, ["-static", "-nostdlib"]),
    ]:
        (tmp / f"{name}.c").write_text(src)
        childproc.run(
            ["gcc", "-O2", *flags, "-o", str(tmp / name), str(tmp / f"{name}.c")], check=True, timeout=120
        )
        out[name] = str(tmp / name)
    return out


@needs_gcc
@pytest.mark.parametrize(
    ("dump", "binary", "status"),
    [
        ("intel-sandybridge-e-i7-3930k.txt", "v3", 1),
        ("amd-zen3-ryzen-9-5900x.txt", "v3", 0),
        ("amd-zen3-ryzen-9-5900x.txt", "v4", 1),
        ("amd-zen4-ryzen-7-7700x.txt", "v4", 0),
    ],
)
def test_condition_binary_on_captures(bins: dict[str, str], dump: str, binary: str, status: int) -> None:
    r = cr("condition", "--binary", bins[binary], "--cpu-data", str(_dumps() / dump))
    assert r.returncode == status, r.stderr
    level = "x86-64-v3" if binary == "v3" else "x86-64-v4"
    word = "succeeded" if status == 0 else "failed"
    assert f"ConditionCPUFeature=x86-64.{level} (from binary {bins[binary]}) {word}" in r.stdout


@needs_gcc
def test_condition_binary_json_names_the_binary(bins: dict[str, str]) -> None:
    r = cr("condition", "--json", "--binary", bins["v3"], "--cpu-data", str(_dumps() / "qemu-kvm64.txt"))
    assert r.returncode == 1
    (res,) = json.loads(r.stdout)["results"]
    assert res["source"] == f"binary {bins['v3']}" and res["parameter"] == "x86-64.x86-64-v3"


@needs_gcc
def test_binary_without_the_note_is_a_clear_error(bins: dict[str, str]) -> None:
    r = cr("condition", "--binary", bins["no-note"])
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "no GNU_PROPERTY_X86_ISA_1_NEEDED note" in r.stderr
    r = cr("run", "--require-binary", bins["no-note"], "--", bins["no-note"])
    assert r.returncode == 2
    assert "run: error:" in r.stderr and "no GNU_PROPERTY_X86_ISA_1_NEEDED note" in r.stderr
    assert "Traceback" not in r.stderr
    r = cr("condition", "--systemd-compat", "--binary", bins["v3"])
    assert r.returncode == 1 and "--systemd-compat" in r.stderr


@needs_gcc
@pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0), reason="needs CPUs 0 and 1 in the affinity mask")
def test_run_require_binary_pins_to_the_cpus_that_can_run_it(bins: dict[str, str], tmp_path: Path) -> None:
    """CPU 0 is a Sandy Bridge-E (v2), CPU 1 a Zen 3 (v3): a v3 binary's service runs on CPU 1 only."""
    cap = mixed_capture(tmp_path, ["intel-sandybridge-e-i7-3930k.txt", "amd-zen3-ryzen-9-5900x.txt"])
    probe = "import os; print('affinity', sorted(os.sched_getaffinity(0)))"
    r = cr("run", "--require-binary", bins["v3"], "--cpu-data", cap, "--", sys.executable, "-c", probe)
    assert r.returncode == 0, r.stderr
    assert "affinity [1]" in r.stdout
    assert "cpus=1" in r.stderr and "x86-64.x86-64-v3" in r.stderr
    r = cr("run", "--require-binary", bins["v4"], "--cpu-data", cap, "--", sys.executable, "-c", probe)
    assert r.returncode == 0 and "affinity" not in r.stdout  # skipped: no CPU can run it
    assert "not starting (skipped)" in r.stderr


@pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0), reason="needs CPUs 0 and 1 in the affinity mask")
def test_run_pins_to_a_microarchitecture(tmp_path: Path) -> None:
    cap = mixed_capture(tmp_path, ["amd-zen4-ryzen-7-7700x.txt", "intel-alderlake-i9-12900k.txt"])
    probe = "import os; print('affinity', sorted(os.sched_getaffinity(0)))"
    r = cr(
        "run",
        "--condition",
        "ConditionCPUFeature=znver4",
        "--cpu-data",
        cap,
        "--",
        sys.executable,
        "-c",
        probe,
    )
    assert r.returncode == 0, r.stderr
    assert "affinity [0]" in r.stdout


def test_condition_and_cpu_features_take_target_names() -> None:
    zen4 = str(_dumps() / "amd-zen4-ryzen-7-7700x.txt")
    adl = str(_dumps() / "intel-alderlake-i9-12900k.txt")
    assert cr("condition", "ConditionCPUFeature=znver4", "--cpu-data", zen4).returncode == 0
    r = cr("condition", "ConditionCPUFeature=skylake-avx512", "--cpu-data", adl)
    assert r.returncode == 1 and "lacks avx512bw, avx512cd, avx512dq, avx512f, avx512vl" in r.stdout
    r = cr("condition", "ConditionCPUFeature=neoverse-v1", "--cpu-data", adl)
    assert r.returncode == 1 and "an arm64 target" in r.stdout
    r = cr("condition", "ConditionCPUFeature=skylake512")
    assert r.returncode == 2 and "skylake_avx512" in r.stderr
    r = cr("cpu-features", "--pin-set", "znver4", "--cpu-data", zen4)
    assert (r.returncode, r.stdout) == (0, "0-15\n")
    r = cr("cpu-features", "--pin-set", "sapphirerapids", "--cpu-data", zen4)
    assert r.returncode == 1 and "sapphirerapids needs on CPUs 0-15: amx_bf16" in r.stderr
    r = cr("cpu-features", "--microarch", "--json", "--cpu-data", zen4)
    doc = json.loads(r.stdout)
    assert {(v["vendor"], v["best"], v["generic"]) for v in doc["cpus"].values()} == {
        ("AuthenticAMD", "zen4", "x86_64_v4")
    }


def test_systemd_compat_does_not_know_targets() -> None:
    r = cr("condition", "--systemd-compat", "ConditionCPUFeature=x86_64")
    assert r.returncode == 1 and "failed" in r.stdout


def test_microarch_of_this_machine() -> None:
    """Live: every CPU gets a generic target, and the best target's pin set is every CPU that has it."""
    r = cr("cpu-features", "--microarch", "--json")
    assert r.returncode == 0, r.stderr
    rows = {int(k): v for k, v in json.loads(r.stdout)["cpus"].items() if v is not None}
    assert rows and all(v["generic"] for v in rows.values())
    for v in rows.values():
        if v["best"]:
            pin = cr("cpu-features", "--pin-set", v["best"])
            assert pin.returncode == 0
