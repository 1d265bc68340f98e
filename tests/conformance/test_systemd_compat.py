"""`config-reloader condition --systemd-compat` against `systemd-analyze condition` (the oracle).

For every case both must give the same exit status. Our side runs in-process (``cli.main``) for
speed; systemd-analyze is spawned per case (~7 ms each). Counts of compared names and
combinations are printed (run with ``-s`` to see them).

Cases: each of systemd's 51 CPU names and every token of /proc/cpuinfo (plus aliases, case and
unknown names), per CPU under ``taskset -c N``; generated combinations of negation, triggers,
whitespace, empty resets, asserts mixed with conditions; the other condition types with parameters
that are true and false here; unit files via ``--unit``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import childproc
import pytest

from config_reloader.cli import main

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"),
]

SYSTEMD_51 = tuple(
    " ".join(
        (
            "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr",
            "sse sse2 ht pni pclmul monitor ssse3 fma3 cx16 sse4_1 sse4_2 movbe popcnt aes xsave",
            "osxsave avx f16c rdrand bmi1 avx2 bmi2 rdseed adx sha_ni syscall rdtscp lm lahf_lm abm",
            "constant_tsc",
        )
    ).split()
)

COUNTS: dict[str, int] = {}


def _count(key: str, n: int = 1) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    total = sum(v for k, v in COUNTS.items() if not k.startswith("systemd_exit"))
    print(
        f"\nsystemd-analyze conformance: {total} comparisons: "
        + ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items()))
    )


def systemd(
    args: Sequence[str], *, unit_dir: str | None = None, unit: str | None = None, cpu: int | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = ["systemd-analyze"]
    if unit is not None:
        cmd.append(f"--unit={unit}")
    cmd += ["condition", *args]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = dict(os.environ)
    if unit_dir is not None:
        env["SYSTEMD_UNIT_PATH"] = f"{unit_dir}:"
    return childproc.run(cmd, capture_output=True, text=True, timeout=30, env=env, check=False)


def ours(args: Sequence[str]) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return main(["condition", "--systemd-compat", "-q", *args])


def assert_same(args: Sequence[str], key: str) -> None:
    want = systemd(args)
    got = ours(args)
    _count(key)
    _count(f"systemd_exit_{want.returncode}")
    assert got == want.returncode, (
        f"{list(args)}: ours {got}, systemd-analyze {want.returncode}: {want.stderr}"
    )


def _cpuinfo_tokens() -> list[str]:
    tokens: set[str] = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith(("flags", "Features")):
                tokens.update(line.split(":", 1)[1].split())
    return sorted(tokens)


CPU_NAMES = sorted(
    set(SYSTEMD_51) | set(_cpuinfo_tokens())
    | {"sse3", "fma", "lzcnt", "sha", "rdrnd", "pclmulqdq", "avx512f", "x86-64.avx2", "x86-64-v3",
       "AVX2", "Sha_Ni", "PCLMUL", "nonexistent"}
)  # fmt: skip


def test_cpu_feature_names_match_exit_status() -> None:
    mismatches = []
    for name in CPU_NAMES:
        want = systemd([f"ConditionCPUFeature={name}"]).returncode
        got = ours([f"ConditionCPUFeature={name}"])
        _count("cpu_names")
        if got != want:
            mismatches.append((name, got, want))
    assert not mismatches, f"(name, ours, systemd): {mismatches}"
    assert 40 < sum(systemd([f"ConditionCPUFeature={n}"]).returncode == 0 for n in SYSTEMD_51) <= 51
    print(
        f"\nCPU feature names compared: {len(CPU_NAMES)} "
        f"(51 systemd + {len(_cpuinfo_tokens())} cpuinfo tokens + extras)"
    )


def _systemd_per_line(cpu: int, names: Sequence[str]) -> dict[str, bool]:
    proc = systemd([f"ConditionCPUFeature=|{n}" for n in names], cpu=cpu)
    out: dict[str, bool] = {}
    for line in proc.stderr.splitlines():
        _, _, rest = line.partition("ConditionCPUFeature=|")
        if not rest:
            continue
        name, _, word = rest.rpartition(" ")
        out[name] = word == "succeeded."
    return out


def test_cpu_features_per_cpu_under_taskset() -> None:
    from config_reloader import cpu

    names = [n for n in CPU_NAMES if n == n.lower()]
    affinity = sorted(os.sched_getaffinity(0))
    for c in affinity:
        sysd = _systemd_per_line(c, names)
        assert len(sysd) == len(names), f"could not parse all lines of systemd-analyze on CPU {c}"
        old = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {c})
        try:
            mine = {n: cpu.systemd_has_feature(n) for n in names}
        finally:
            os.sched_setaffinity(0, old)
        _count("cpu_names_per_cpu", len(names))
        diff = {n: (mine[n], sysd[n]) for n in names if mine[n] != sysd[n]}
        assert not diff, f"CPU {c}: name: (ours, systemd) {diff}"


def test_default_cpu_view_agrees_with_systemd_on_its_51_names() -> None:
    """Our raw-CPUID view (``--view cpu``), per CPU, says what systemd says for its own table
    (names resolved to ours: pclmul -> pclmulqdq, fma3 -> fma, ...)."""
    from config_reloader import cpu

    machine = cpu.probe_machine()
    if machine.backend not in ("cpuid-native", "cpuid-stub", "dev-cpu"):
        pytest.skip(f"no per-CPU raw CPUID here (backend {machine.backend}): {machine.notes}")
    for c in sorted(os.sched_getaffinity(0)):
        sysd = _systemd_per_line(c, list(SYSTEMD_51))
        diff = {}
        for name in SYSTEMD_51:
            check = cpu.check_features(machine, [cpu.resolve_feature(name)], view="cpu")
            _count("cpu_view_per_cpu")
            if check.per_cpu.get(c) is not sysd[name]:
                diff[name] = (check.per_cpu.get(c), sysd[name])
        assert not diff, f"CPU {c}: name: (ours, systemd) {diff}"


def test_cli_under_taskset_end_to_end() -> None:
    exe = childproc.console_script()
    if exe is None:
        pytest.skip("config-reloader console script not installed")
    for c in sorted(os.sched_getaffinity(0)):
        for arg in (
            "ConditionCPUFeature=avx2",
            "ConditionCPUFeature=!avx512f",
            "ConditionCPUFeature=monitor",
        ):
            want = systemd([arg], cpu=c).returncode
            got = childproc.run(
                ["taskset", "-c", str(c), exe, "condition", "--systemd-compat", "-q", arg],
                timeout=60,
                check=False,
            ).returncode
            _count("cli_taskset")
            assert got == want, (c, arg, got, want)


def _combinations() -> list[list[str]]:
    cases: list[list[str]] = []
    feats = ["avx2", "monitor", "avx512f", "sse2"]
    prefixes = ["", "!", "|", "|!", "!|", "| ", "! ", "| ! ", " ", "|  !"]
    for f in feats:
        for p in prefixes:
            cases.append([f"ConditionCPUFeature={p}{f}"])
            cases.append([f"AssertCPUFeature={p}{f}"])
    cases += [[f"ConditionCPUFeature={f}"] for f in ("AVX2", "Avx2", "avx2 sse2", "avx2 ", "x86-64.avx2", "")]
    # triggers: all false / one true / with a failing plain condition
    cases += [
        ["ConditionCPUFeature=|avx512f", "ConditionCPUFeature=|monitor"],
        ["ConditionCPUFeature=|avx512f", "ConditionCPUFeature=|avx2"],
        ["ConditionCPUFeature=|avx2", "ConditionCPUFeature=monitor"],
        ["ConditionCPUFeature=|!avx2", "ConditionCPUFeature=|!sse2"],
        ["ConditionCPUFeature=|avx2", "AssertCPUFeature=|monitor"],
    ]
    # empty resets (per kind, all types)
    cases += [
        ["ConditionCPUFeature=monitor", "ConditionCPUFeature="],
        ["ConditionCPUFeature=monitor", "ConditionPathExists="],
        ["ConditionCPUFeature=monitor", "AssertCPUFeature="],
        ["AssertCPUFeature=monitor", "ConditionCPUFeature="],
        ["AssertCPUFeature=monitor", "AssertPathExists="],
        ["ConditionCPUFeature=", "ConditionCPUFeature=monitor"],
        ["ConditionPathExists=/nonexistent", "ConditionEnvironment= ", "ConditionCPUFeature=avx2"],
    ]
    # asserts mixed with conditions
    for a in ("avx2", "monitor"):
        for c in ("sse2", "avx512f"):
            cases.append([f"AssertCPUFeature={a}", f"ConditionCPUFeature={c}"])
            cases.append([f"ConditionCPUFeature={c}", f"AssertCPUFeature=!{a}"])
    # syntax errors
    cases += [
        ["conditionCPUFeature=avx2"],
        ["ConditionCpuFeature=avx2"],
        ["ConditionFoo=bar"],
        ["Foo=bar"],
        ["ConditionCPUFeature"],
        ["AssertFoo=x"],
        ["ConditionNull=true"],
    ]
    return cases


def test_generated_combinations() -> None:
    before = (COUNTS.get("systemd_exit_0", 0), COUNTS.get("systemd_exit_1", 0))
    for args in _combinations():
        assert_same(args, "combinations")
    # not vacuous: the oracle said both "pass" and "fail" many times
    assert COUNTS.get("systemd_exit_0", 0) - before[0] > 20
    assert COUNTS.get("systemd_exit_1", 0) - before[1] > 20


def _physical_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _other_types(tmp: Path) -> list[list[str]]:
    uname = os.uname()
    major = uname.release.split(".")[0]
    mem = _physical_memory()
    n = len(os.sched_getaffinity(0))
    (tmp / "file").write_text("x")
    (tmp / "empty").write_text("")
    (tmp / "exe").write_text("#!/bin/sh\n")
    (tmp / "exe").chmod(0o755)
    (tmp / "dir").mkdir()
    (tmp / "dir" / ".hidden").write_text("")
    (tmp / "dir2").mkdir()
    (tmp / "dir2" / "visible").write_text("")
    (tmp / "link").symlink_to(tmp / "file")
    t = str(tmp)
    hostname = os.uname().nodename
    machine_id = Path("/etc/machine-id").read_text().strip()
    uuid = f"{machine_id[:8]}-{machine_id[8:12]}-{machine_id[12:16]}-{machine_id[16:20]}-{machine_id[20:]}"
    values: dict[str, list[str]] = {
        "PathExists": [
            f"{t}/file",
            f"{t}/nope",
            f"!{t}/file",
            f"|{t}/file",
            f"|!{t}/nope",
            f"| {t}/file",
            f"! {t}/file",
            "relative",
            f"{t}/../x",
            f"/{t}//file/",
            f"{t}/./file",
            f"{t}/file ",
        ],
        "PathExistsGlob": [f"{t}/fi*", f"{t}/zz*", f"{t}/d?r"],
        "PathIsDirectory": [f"{t}/dir", f"{t}/file", f"{t}/nope"],
        "PathIsSymbolicLink": [f"{t}/link", f"{t}/file"],
        "PathIsMountPoint": ["/", "/proc", f"{t}/dir", "/nonexistent"],
        "PathIsReadWrite": [t, "/proc/sys", "/nonexistent"],
        "PathIsEncrypted": [t, "/nonexistent"],
        "DirectoryNotEmpty": [f"{t}/dir", f"{t}/dir2", f"{t}/file", f"{t}/nope"],
        "FileNotEmpty": [f"{t}/file", f"{t}/empty", f"{t}/dir", f"{t}/nope"],
        "FileIsExecutable": [f"{t}/exe", f"{t}/file", f"{t}/dir"],
        "Environment": [
            "CR_CONFORMANCE",
            "CR_CONFORMANCE=yes",
            "CR_CONFORMANCE=no",
            "CR_CONFORMANC",
            "CR_NOT_SET_ANYWHERE",
            "PATH",
            "!CR_CONFORMANCE",
            "",
            "CR_CONFORMANCE ",
        ],
        "Architecture": ["x86-64", "native", "x86", "arm64", "amd64", "foo", "!x86-64", "X86-64"],
        "KernelVersion": [
            f">={major}",
            f"<{major}",
            f"={uname.release}",
            f"!={uname.release}",
            f"{major}.*",
            major,
            f"$={major}.*",
            f"!$={major}.*",
            f"<>{major}",
            f">= {major}",
            f">{major} <{int(major) + 1}",
            f">{major} <{major}",
            ">",
            "",
            f"=={uname.release}",
            f"> {int(major) - 1} < {int(major) + 1}",
        ],
        "Memory": [
            str(mem),
            str(mem + 1),
            f"={mem}",
            f"<{mem}",
            f">{mem - 1}",
            "1G",
            ">1G",
            "<1G",
            ">=1T",
            "1.5G",
            "1G 512M",
            "1K 2K",
            "1k",
            "foo",
            "!=1G",
            "<>1G",
            "> 1G",
            "1E",
            "1%",
        ],
        "CPUs": [str(n), f">{n}", f"<={n - 1}", f"={n}", f"!={n}", f"<{n + 1}", f">= {n}", "foo", "1.5"],
        "Virtualization": [
            "yes",
            "no",
            "vm",
            "container",
            "docker",
            "podman",
            "kvm",
            "qemu",
            "lxc",
            "private-users",
            "foo",
            "!container",
            "true",
            "0",
        ],
        "Host": [
            hostname,
            hostname.upper(),
            f"{hostname[:1]}*",
            "not-this-host",
            machine_id,
            uuid,
            "0" * 32,
            "!" + hostname,
        ],
        "User": ["root", "0", "nobody", "65534", "@system", "foo", str(os.getuid())],
        "Group": ["root", "0", "nogroup", "foo", str(os.getgid())],
        "Capability": ["CAP_SYS_ADMIN", "cap_net_raw", "CAP_FOO", "CAP_BPF", "!CAP_CHOWN"],
        "Security": [
            "audit",
            "selinux",
            "apparmor",
            "smack",
            "ima",
            "tomoyo",
            "uefi-secureboot",
            "tpm2",
            "cvm",
            "measured-uki",
            "foo",
        ],
        "ControlGroupController": [
            "v1",
            "v2",
            "cpu",
            "cpu memory",
            "foo",
            "cpu foo",
            "io",
            "blkio",
            "cpuset",
            "cpuacct",
            "pids devices",
            "bpf-firewall",
            "memory",
        ],
        "OSRelease": [
            "ID=debian",
            "ID!=debian",
            "VERSION_ID>=11",
            "VERSION_ID>12",
            "ID$=deb*",
            "ID=deb*",
            "ID = debian",
            "FOO!=x",
            "FOO=",
            "ID",
            "ID=debian VERSION_ID=12",
            "ID=debian VERSION_ID=11",
        ],
        "MemoryPressure": [
            "100%",
            "100%/10sec",
            "100%/1min",
            "foo",
            "5",
            "100%/2min",
            "system.slice:100%",
            "101%",
        ],
        "CPUPressure": ["100%", "100%/5min", "99.99%"],
        "IOPressure": ["100%", "100.00%"],
        "Firmware": [
            "uefi",
            "device-tree",
            "foo",
            "smbios-field(sys_vendor = QEMU)",
            "device-tree-compatible(foo)",
        ],
        "ACPower": ["true", "false", "yes", "maybe"],
        "FirstBoot": ["yes", "no"],
        "NeedsUpdate": ["/etc", "/var"],
        "Credential": ["foo", "a/b"],
        "KernelCommandLine": ["nonexistent_word_xyz"],
    }
    cases = []
    for type_, params in values.items():
        for p in params:
            cases.append([f"Condition{type_}={p}"])
        cases.append([f"Assert{type_}={params[0]}"])
    return cases


# systemd-analyze answers for the system manager; run by another user it sees that user's view for
# some types (ControlGroupController) and specifiers (%g stays "root"), while ours follow the caller.
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the systemd-analyze oracle is compared as root")


@AS_ROOT
def test_other_condition_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CR_CONFORMANCE", "yes")
    before = (COUNTS.get("systemd_exit_0", 0), COUNTS.get("systemd_exit_1", 0))
    for args in _other_types(tmp_path):
        assert_same(args, "other_types")
    assert COUNTS.get("systemd_exit_0", 0) - before[0] > 50
    assert COUNTS.get("systemd_exit_1", 0) - before[1] > 50


UNITS = {
    "plain.service": "[Unit]\nDescription=x\nConditionPathExists=/etc\n",
    "fails.service": "[Unit]\nConditionPathExists=/nonexistent   \nAssertPathExists=/etc\n",
    "continued.service": "[Unit]\nConditionPathExists=/etc\nConditionPathExists=\\\n  /nonexistent\n",
    "reset.service": "[Unit]\nConditionPathExists=/nope\n# comment\n; comment\nConditionEnvironment=\n",
    "assert-reset.service": "[Unit]\nConditionPathExists=/nonexistent\nAssertPathExists=\n",
    "other-section.service": "[Unit]\nConditionPathExists=/etc\n[Install]\nConditionPathExists=/nope\n",
    "unknown-key.service": "[Unit]\nconditionPathExists=/nonexistent\nConditionFoo=/x\n",
    "triggers.service": "[Unit]\nConditionCPUFeature=|avx512f\nConditionCPUFeature=| monitor\n",
    "triggers-ok.service": "[Unit]\nConditionCPUFeature=|avx512f\nConditionCPUFeature=|sse2\n",
    "relative.service": "[Unit]\nConditionPathExists=etc\n",
    "spaces.service": "[Unit]\n  ConditionEnvironment =  PATH  \n",
}


DROPINS = {
    "with-dropins.service": (
        "[Unit]\nConditionPathExists=/nonexistent\n",
        {"10-reset.conf": "[Unit]\nConditionPathExists=\n", "20-add.conf": "[Unit]\nAssertPathExists=/etc\n"},
    ),
    "dropin-fails.service": (
        "[Unit]\nConditionPathExists=/etc\n",
        {"a.conf": "[Unit]\nConditionHost=not-%H\n"},
    ),
    "dropin-ignored.service": (
        "[Unit]\nConditionPathExists=/etc\n",
        {"a.txt": "[Unit]\nConditionHost=nope\n"},
    ),
}


def test_unit_files_with_dropins(tmp_path: Path) -> None:
    for name, (text, dropins) in DROPINS.items():
        (tmp_path / name).write_text(text + "[Service]\nExecStart=/bin/true\n")
        (tmp_path / f"{name}.d").mkdir()
        for conf, body in dropins.items():
            (tmp_path / f"{name}.d" / conf).write_text(body)
        want = systemd([], unit_dir=str(tmp_path), unit=name)
        got = ours(["--unit", str(tmp_path / name)])
        _count("unit_files")
        assert got == want.returncode, f"{name}: ours {got}, systemd {want.returncode}: {want.stderr}"


def test_unit_files(tmp_path: Path) -> None:
    for name, text in UNITS.items():
        (tmp_path / name).write_text(text + "[Service]\nExecStart=/bin/true\n")
        want = systemd([], unit_dir=str(tmp_path), unit=name)
        got = ours(["--unit", str(tmp_path / name)])
        _count("unit_files")
        assert got == want.returncode, f"{name}: ours {got}, systemd {want.returncode}: {want.stderr}"


SPECIFIERS = "aAbBCdEfgGhHiIjJlLmMnNopPqsStTuUvVwW%yYkZ1/-_ ."


@AS_ROOT
def test_specifiers_expand_like_systemd() -> None:
    """Compare the expanded value systemd prints with ours, letter by letter."""
    from config_reloader.conditions.parse import parse_assignment
    from config_reloader.conditions.specifiers import SpecifierError

    for letter in SPECIFIERS:
        arg = f"ConditionEnvironment=<%{letter}>"
        proc = systemd([arg])
        _count("specifiers")
        line = proc.stderr.splitlines()[0]
        try:
            cond = parse_assignment(arg)
        except SpecifierError:
            assert "Failed to resolve unit specifiers" in line, (letter, line)
            continue
        assert cond is not None
        assert line == f"test.service: ConditionEnvironment={cond.parameter} failed.", letter


@pytest.mark.skipif(shutil.which("systemd-detect-virt") is None, reason="systemd-detect-virt not installed")
def test_virtualization_detection_matches_systemd_detect_virt() -> None:
    from config_reloader.conditions import virt

    def sdv(*flags: str) -> str:
        return childproc.run(
            ["systemd-detect-virt", *flags], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()

    assert virt.detect_vm() == sdv("--vm")
    assert virt.detect_container() == sdv("--container")
    assert virt.detect_virtualization() == sdv()
    userns = childproc.run(["systemd-detect-virt", "-q", "--private-users"], timeout=30, check=False)
    assert virt.running_in_userns() == (userns.returncode == 0)
    _count("virt", 4)


def _cmdline_words() -> list[str]:
    from config_reloader.conditions import virt

    if virt.detect_container() != "none":
        raw = Path("/proc/1/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()
    else:
        raw = Path("/proc/cmdline").read_text()
    return raw.split()


def test_memory_sizes_at_the_boundary() -> None:
    mem = _physical_memory()
    k = mem // 1024
    cases = [str(mem), f"{k}K", f"{k + 1}K", f"={k}K", f"<{k}K", f"{mem // 2**20}M", f"{mem / 2**20:.8f}M",
             f"{mem / 2**20:.3f}M", f"{mem / 2**30:.1f}G", f"{mem / 2**30:.9f}G",
             f"{mem // 2**30}G {k % 2**20}K",
             f"{mem // 2**30}G {(mem % 2**30) // 2**20}M {(mem % 2**20) // 1024}K",
             f"{mem // 2**30}G {(mem % 2**30) // 2**20}M {(mem % 2**20) // 1024 + 1}K", "0.5K", "10.M",
             "1.G", ".5G", "1 G 1 M", "1G1M", "1M 1G", "1B", "1 B", "1KB"]  # fmt: skip
    for c in cases:
        assert_same([f"ConditionMemory={c}"], "memory_sizes")


def test_more_edge_cases() -> None:
    words = _cmdline_words()
    cases: list[list[str]] = []
    for w in words[:8]:
        cases.append([f"ConditionKernelCommandLine={w}"])
        if "=" in w:
            key = w.partition("=")[0]
            cases += [[f"ConditionKernelCommandLine={key}"], [f"ConditionKernelCommandLine={key}=nope"]]
        else:
            cases.append([f"ConditionKernelCommandLine={w}=x"])
    cases += [
        ["ConditionMemory=!lots"],
        ["ConditionCPUs=!x"],
        ["ConditionKernelVersion=!>"],
        ["ConditionPathExists=|"],
        ["ConditionPathExists=!"],
        ["ConditionEnvironment=|"],
        ["ConditionCPUFeature=!"],
        ["ConditionHost=v[a-z]*"],
        ["ConditionHost=[!v]*"],
        ["ConditionUser=!root"],
        ["ConditionEnvironment=PATH=/nonexistent"],
        ["ConditionArchitecture=|x86", "ConditionArchitecture=|x86-64"],
        ["AssertArchitecture=arm64", "ConditionArchitecture=x86-64"],
        ["ConditionPathExists=/etc", "ConditionPathExists=", "AssertPathExists=/nonexistent"],
        ["ConditionEnvironment=%%"],
        ["ConditionHost=%H"],
        ["ConditionHost=!%l"],
        ["ConditionPathExists=%t"],
        ["ConditionPathExists=%E/machine-id"],
        ["ConditionEnvironment=%Z"],
        ["ConditionCPUPressure=99%/10sec"],
        ["ConditionSecurity=!audit"],
    ]
    # globs are the C library's fnmatch(3)/glob(3): POSIX classes, backslash escapes, braces
    for pat in ("[[:alpha:]]*", "+(v|x)*", "\\*", "[^x]*", "[!x]*", "*[[:digit:]]*", "@(x)"):
        cases.append([f"ConditionHost={pat}"])
        cases.append([f"ConditionKernelVersion=$={pat}"])
    cases += [
        ["ConditionPathExistsGlob=/etc/{passwd,nope}"],
        ["ConditionPathExistsGlob=/etc/{nope1,nope2}"],
        ["ConditionPathExistsGlob=/[[:alpha:]]tc"],
        ["ConditionPathExistsGlob=/e\\tc"],
        ["ConditionPathExistsGlob=/.dockerenv*"],
        ["ConditionPathExistsGlob=/proc/sys/*/osrelease"],
    ]
    for args in cases:
        assert_same(args, "edge_cases")
