"""The condition types systemd added after 252 (up to 261), on this machine's real files.

Expected answers come from systemd's own test cases (src/test/test-condition.c at v261: the
``condition_test_kernel_version``, ``condition_test_version`` and
``condition_test_kernel_module_loaded`` tests) and from the rules in systemd.unit(5).
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import socket
from pathlib import Path

import childproc
import pytest

from config_reloader.conditions import EvalOptions, evaluate, machine, parse_assignment, system
from config_reloader.conditions.base import CheckError, Context
from config_reloader.conditions.parse import PathNotAcceptedError
from config_reloader.conditions.paths import check_path_is_socket
from config_reloader.errors import ConditionSyntaxError, NotSupportedHere


def holds(assignment: str, **opts: object) -> bool:
    """Evaluate one assignment the way the CLI does (parse, then evaluate)."""
    cond = parse_assignment(assignment)
    assert cond is not None
    return evaluate([cond], EvalOptions(**opts)).conditions_ok  # type: ignore[arg-type]


RELEASE = os.uname().release


# --- ConditionVersion= ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "want"),
    [
        ("*thisreallyshouldntbeinthekernelversion*", False),
        ("*", True),
        (RELEASE, True),
        (RELEASE[:4] + "*", True),
        ("> 0.1.2", True),
        (">0.1.2", True),
        ("'>0.1.2' '<9.0.0'", True),
        (">= 0.1.2", True),
        ("< 0.1.2", False),
        ("<= 0.1.2", False),
        ("= 0.1.2", False),
        ("< 4711.8.15", True),
        ("<= 4711.8.15", True),
        ("= 4711.8.15", False),
        ("> 4711.8.15", False),
        (" >= 4711.8.15", False),
        (">=" + RELEASE, True),
        ("=  " + RELEASE, True),
        ("<=" + RELEASE, True),
        ("> " + RELEASE, False),
        ("<   " + RELEASE, False),
        ("kernel >= 0.1", True),
        ("kernel" + RELEASE[:1] + "*", False),  # "kernel6*" is not the word "kernel": a glob on the release
    ],
)
def test_version_kernel_cases_of_systemd(expression: str, want: bool) -> None:
    assert holds(f"ConditionVersion={expression}") is want
    assert holds(f"ConditionKernelVersion={expression}") is want  # an alias in systemd 261


@pytest.mark.parametrize(
    ("expression", "compat_error"),
    [("> 0.1.2 < 9.0.0", True), (">", True), ("systemd > 42 < 9000", False), ("systemd>", False)],
)
def test_version_malformed_expressions(expression: str, compat_error: bool) -> None:
    with pytest.raises(ConditionSyntaxError, match="ends after an operator"):
        holds(f"ConditionVersion={expression}")
    # --systemd-compat: KernelVersion is 252's, which globs "systemd" against the release and
    # stops at that failing first term before it reaches the malformed one
    cond = parse_assignment(f"ConditionKernelVersion={expression}")
    assert cond is not None
    result = evaluate([cond], EvalOptions(systemd_compat=True)).results[0]
    assert result.passed is False
    assert ("error" in result.detail) is compat_error


def systemd_major() -> str:
    out = childproc.run(["systemctl", "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


needs_systemd = pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemd installed")


@needs_systemd
def test_systemd_version_is_the_installed_major() -> None:
    version, source = system.systemd_version()
    assert version == systemd_major(), source


@needs_systemd
@pytest.mark.parametrize(
    ("expression", "want"),
    [
        ("systemd *thisreallyshouldntbeinthesystemdversion*", False),
        ("systemd *", True),
        ("systemd", True),  # no terms: holds
        ("systemd > 42", True),
        ("systemd>42", True),
        ("systemd '>42' '<9000'", True),
        ("systemd >= 42", True),
        ("systemd < 42", False),
        ("systemd <= 42", False),
        ("systemd = 42", False),
        ("systemd < 9000", True),
        ("systemd <= 9000", True),
        ("systemd = 9000", False),
        ("systemd > 9000", False),
        ("systemd >= 9000", False),
        ("systemd>={v}", True),
        ("systemd =  {v}", True),
        ("systemd<={v}", True),
        ("systemd > {v}", False),
        ("systemd  <   {v}", False),
    ],
)
def test_version_systemd_cases_of_systemd(expression: str, want: bool) -> None:
    assert holds("ConditionVersion=" + expression.format(v=systemd_major())) is want


def test_systemd_version_from_library_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libsystemd-shared-256.11-1.fc41.so").write_bytes(b"")
    monkeypatch.setattr(system, "_SYSTEMD_LIB_DIRS", (str(tmp_path / "missing"), str(lib)))
    monkeypatch.setattr(system, "_MULTIARCH_ROOT", str(tmp_path / "none"))
    assert system.systemd_version() == ("256", f"{lib}/libsystemd-shared-256.11-1.fc41.so")
    (lib / "libsystemd-shared-256.11-1.fc41.so").unlink()
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl either: no systemd here
    assert system.systemd_version()[0] is None
    assert holds("ConditionVersion=systemd >= 1") is False
    assert holds("ConditionVersion=!systemd >= 1") is True  # false, not an error, like glibc on musl


def test_glibc_version_matches_the_c_library() -> None:
    lib, version = platform.libc_ver()
    if lib != "glibc":
        pytest.skip("not glibc")
    assert system.glibc_version() == version
    assert holds("ConditionVersion=glibc > 1")
    assert not holds("ConditionVersion=glibc < 2")
    assert holds("ConditionVersion=glibc < 9999")
    assert not holds("ConditionVersion=glibc > 9999")
    assert holds(f"ConditionVersion=glibc = {version}")
    assert not holds(f"ConditionVersion=glibc != {version}")
    assert holds("ConditionVersion=glibc $= ?*")
    assert not holds("ConditionVersion=glibc !$= ?*")


def test_kernel_version_alias_only_outside_compat() -> None:
    # systemd 261 reads the first word as the software; 252 globs it against the kernel release
    assert holds("ConditionKernelVersion=glibc > 1") is (system.glibc_version() is not None)
    assert holds("ConditionKernelVersion=glibc > 1", systemd_compat=True) is False


# --- ConditionKernelModuleLoaded= -----------------------------------------------------------------
def fake_sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "module"
    for name, state in (("live_mod", "live\n"), ("coming_mod", "coming\n"), ("going_mod", "going\n")):
        (root / name).mkdir(parents=True)
        (root / name / "initstate").write_text(state)
    (root / "builtin_mod" / "parameters").mkdir(parents=True)
    (root / "not_a_dir").write_text("")
    (root / "dangling").symlink_to(root / "nowhere")
    return root


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("live_mod", True),
        ("live-mod", True),  # - and _ are the same in module names
        ("coming_mod", False),
        ("going_mod", False),
        ("builtin_mod", True),  # no initstate: built into the kernel
        ("missing_mod", False),
        ("dangling", False),
        ("", False),
        ("..", False),
        ("a/b", False),
    ],
)
def test_kernel_module_states(tmp_path: Path, name: str, want: bool) -> None:
    root = fake_sysfs(tmp_path)
    assert system.check_kernel_module_loaded(name, Context(), sysfs=str(root)).value is want


def test_kernel_module_unreadable_is_an_error(tmp_path: Path) -> None:
    root = fake_sysfs(tmp_path)
    with pytest.raises(CheckError):
        system.check_kernel_module_loaded("not_a_dir", Context(), sysfs=str(root))


def test_kernel_module_on_this_kernel() -> None:
    if not os.path.isdir("/sys/module"):
        pytest.skip("no /sys/module")
    assert not holds("ConditionKernelModuleLoaded=idefinitelydontexist")
    assert not holds("ConditionKernelModuleLoaded=..")
    assert holds("ConditionKernelModuleLoaded=!idefinitelydontexist")
    # every module the kernel lists as Live in /proc/modules passes; every built-in one too
    live = []
    if os.path.exists("/proc/modules"):
        live = [ln.split()[0] for ln in Path("/proc/modules").read_text().splitlines() if " Live " in ln]
    builtin = [d for d in os.listdir("/sys/module") if not os.path.exists(f"/sys/module/{d}/initstate")]
    assert live or builtin
    for name in (live + builtin)[:20]:
        assert holds(f"ConditionKernelModuleLoaded={name}"), name
        assert holds(f"ConditionKernelModuleLoaded={name.replace('_', '-')}"), name


# --- ConditionPathIsSocket= -----------------------------------------------------------------------
def test_path_is_socket(tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock_path))
        (tmp_path / "link").symlink_to(sock_path)
        (tmp_path / "file").write_text("x")
        assert holds(f"ConditionPathIsSocket={sock_path}")
        assert holds(f"ConditionPathIsSocket={tmp_path}/link")  # symlinks are followed
        assert not holds(f"ConditionPathIsSocket={tmp_path}/file")
        assert not holds(f"ConditionPathIsSocket={tmp_path}")
        assert not holds(f"ConditionPathIsSocket={tmp_path}/missing")
        assert not holds("ConditionPathIsSocket=/sys")  # systemd's test case
        assert check_path_is_socket(str(sock_path), Context()).value
    with pytest.raises(PathNotAcceptedError):  # a path type: absolute and normalized, as in systemd
        holds("ConditionPathIsSocket=run/s.sock")
    cond = parse_assignment("ConditionPathIsSocket=//run//x/")
    assert cond is not None and cond.parameter == "/run/x"


# --- ConditionFraction= ---------------------------------------------------------------------------
def limit(permyriad: int) -> int:
    return (permyriad * 0xFFFFFFFF + 5000) // 10000


def test_fraction_edges_and_syntax() -> None:
    assert not holds("ConditionFraction=0%")
    assert not holds("ConditionFraction=tag 0.0%")
    assert holds("ConditionFraction=100%")
    assert holds("ConditionFraction=tag 100.00%")
    assert holds("ConditionFraction=!0%")
    for bad in ("50", "0.5", "1/2", "a b 50%", "'a b' 50%", "101%", "tag:50%"):  # no unquoting
        with pytest.raises(ConditionSyntaxError):
            holds(f"ConditionFraction={bad}")


def test_fraction_boundary_on_this_machine() -> None:
    mid = machine.machine_id()
    for tag in ("", "canary", "wave-2"):
        bucket = machine.fraction_bucket(mid, tag)
        word = f"{tag} " if tag else ""
        # the smallest share that includes this machine, and the one just below it
        first = next(p for p in range(1, 10001) if bucket < limit(p))
        assert holds(f"ConditionFraction={word}{first / 100:.2f}%")
        if first > 1:
            assert not holds(f"ConditionFraction={word}{(first - 1) / 100:.2f}%")
        assert holds(f"ConditionFraction={word}{first}‱")


def test_fraction_selects_a_stable_share_of_machines() -> None:
    rng = random.Random(261)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(4000)]
    for permyriad in (1000, 3000, 5000):
        share = sum(machine.fraction_bucket(m, "rollout") < limit(permyriad) for m in ids) / len(ids)
        assert abs(share - permyriad / 10000) < 0.03
    # a larger share includes every machine of a smaller one; another tag picks other machines
    small = {m for m in ids if machine.fraction_bucket(m, "x") < limit(1000)}
    large = {m for m in ids if machine.fraction_bucket(m, "x") < limit(3000)}
    other = {m for m in ids if machine.fraction_bucket(m, "y") < limit(1000)}
    assert small < large and small != other


def test_fraction_without_machine_id_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "machine-id"
    bad.write_text("uninitialized\n")
    monkeypatch.setattr(machine, "_MACHINE_ID", str(bad))
    for text in ("ConditionFraction=50%", "ConditionFraction=!50%"):
        cond = parse_assignment(text)
        assert cond is not None
        result = evaluate([cond]).results[0]
        assert result.passed is False and result.detail == {"error": True}
    assert holds("ConditionFraction=100%")  # 100% needs no machine ID


# --- ConditionMachineTag= -------------------------------------------------------------------------
def tags_env(tmp_path: Path, content: str) -> dict[str, str]:
    info = tmp_path / "machine-info"
    info.write_text(content)
    return {"SYSTEMD_ETC_MACHINE_INFO": str(info)}


def test_machine_tags_parsing() -> None:
    assert machine.machine_tags("role=api:canary:bad/:-x:x-:role=worker:canary") == ["canary", "role=worker"]
    assert machine.machine_tags("") == []
    assert machine.machine_tags("a=1:a:b.c=x") == ["a", "a=1", "b.c=x"]  # a bare tag and a key differ
    with pytest.raises(ValueError):
        machine.machine_tags(":".join(f"t{i}" for i in range(1025)))


def test_machine_tag_from_machine_info(tmp_path: Path) -> None:
    env = tags_env(tmp_path, 'PRETTY_HOSTNAME="x"\nTAGS="role=api:canary"\nTAGS=role=worker:eu-west\n')
    assert holds("ConditionMachineTag=eu-west", environ=env)  # the last TAGS= wins
    assert not holds("ConditionMachineTag=canary", environ=env)
    assert holds("ConditionMachineTag=role=*", environ=env)
    assert holds("ConditionMachineTag=eu-*", environ=env)
    assert not holds("ConditionMachineTag=EU-WEST", environ=env)  # case-sensitive
    assert holds("ConditionMachineTag=!canary", environ=env)


def test_machine_tag_missing_file_has_no_tags(tmp_path: Path) -> None:
    env = {"SYSTEMD_ETC_MACHINE_INFO": str(tmp_path / "missing")}
    assert not holds("ConditionMachineTag=*", environ=env)
    assert holds("ConditionMachineTag=!*", environ=env)  # a non-match, not an error
    assert not holds("ConditionMachineTag=*", environ=tags_env(tmp_path, "HOSTNAME=x\n"))


# --- ConditionHost= (systemd 261 also matches the boot ID) ----------------------------------------
def test_host_matches_boot_id_outside_compat() -> None:
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert holds(f"ConditionHost={boot_id}")
    assert holds(f"ConditionHost={boot_id.replace('-', '').upper()}")
    assert not holds(f"ConditionHost={boot_id}", systemd_compat=True)  # 252: machine ID only
    assert holds(f"ConditionHost={machine.machine_id()}", systemd_compat=True)
    assert not holds("ConditionHost=00000000000000000000000000000001")


def test_measured_os_is_not_guessed() -> None:
    with pytest.raises(NotSupportedHere):
        holds("ConditionSecurity=measured-os")
    assert holds("ConditionSecurity=!measured-os", systemd_compat=True)  # unknown to 252: false


# --- ConditionCPUFeature= on arm64: systemd 261's names ------------------------------------------
#: The names systemd 261 added to its arm64 tables (src/basic/virt.c) that are not in older
#: kernels' lists, with their bits (the kernel's arch/arm64/include/uapi/asm/hwcap.h).
_HWCAP_FROM_34 = (
    "fprcvt", "f8mm8", "f8mm4", "svef16mm", "sveeltperm", "sveaes2", "svebfscale", "sve2p2",
    "sme2p2", "smesbitperm", "smeaes", "smesfexpa", "smestmop", "smesmop4",
)  # fmt: skip
_HWCAP3_FROM_2 = (
    "lsfe", "ls64", "sveb16mm", "sve2p3", "smelut6", "sme2p3", "f16mm", "f16f32dot", "f16f32mm",
    "svelut6",
)  # fmt: skip
SYSTEMD_261_ARM64 = {
    **{n: (16, b) for b, n in enumerate(_HWCAP_FROM_34, start=34)},
    **{n: (29, b) for b, n in enumerate(_HWCAP3_FROM_2, start=2)},
}


def test_arm64_names_and_bits_are_systemds() -> None:
    from config_reloader.cpu import hwcaps, resolve_feature

    for name, where in SYSTEMD_261_ARM64.items():
        assert hwcaps.ARM64_BITS[name] == where, name
        assert resolve_feature(f"arm64.{name}") == f"arm64.{name}"
        assert hwcaps.decode_hwcaps({where[0]: 1 << where[1]}) == {name}
    assert len(hwcaps.ARM64_NAMES) == 48 + 64 + 12  # every bit systemd 261 names, no more


def test_arm64_condition_on_a_capture(tmp_path: Path) -> None:
    import json

    from config_reloader.cpu import hwcaps, load_capture

    names = sorted(hwcaps.decode_hwcaps({16: 1 << 1 | 1 << 34, 26: 1 << 17, 29: 1 << 11}))
    assert names == ["asimd", "bti", "fprcvt", "svelut6"]
    doc = {
        "format": "config-reloader/cpu-capture",
        "version": 1,
        "arch": "arm64",
        "backend": "hwcaps",
        "cpus": {"0": {"features": names}, "1": {"features": names}},
    }
    capture = tmp_path / "arm64.json"
    capture.write_text(json.dumps(doc))
    m = load_capture(str(capture))
    for name in ("fprcvt", "svelut6", "arm64.svelut6", "bti"):
        assert holds(f"ConditionCPUFeature={name}", machine=m), name
    for name in ("sveaes2", "smesmop4", "ls64", "x86-64.avx2"):
        assert not holds(f"ConditionCPUFeature={name}", machine=m), name
