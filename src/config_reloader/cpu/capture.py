"""Captures of a machine's CPU data: our versioned JSON format and ``cpuid -r`` text.

JSON capture (``config-reloader cpu-features --dump``), version 1::

    {"format": "config-reloader/cpu-capture", "version": 1, "arch": "x86-64",
     "backend": "cpuid-stub", "hostname": "h1" | null, "affinity": "0-15" | null,
     "current_cpu": 0 | null, "notes": [...],
     "hwcaps": {"16": "0x...", "26": "0x..."} | null,                      # arm64 only
     "cpus": {"0": {"leaves": {"0x00000007.0x00": ["0x00000001", "0xf1bf07ab", "0x...", "0x..."]},
                    "xcr0": "0xe7" | null, "xcr0_source": "xgetbv" | null,
                    "kernel_flags": ["fpu", ...] | null},
              "1": null}}                                                  # null = unknown CPU

``cpuid -r`` text (Debian package ``cpuid``, Todd Allen's tool): ``CPU N:`` blocks of lines
``   0x00000007 0x00: eax=0x... ebx=0x... ecx=0x... edx=0x...``. It has no XCR0: the ``usable`` view
then *assumes* the OS enabled every XSAVE component the CPU supports (XCR0 := CPUID.(EAX=0DH,ECX=0)
EDX:EAX) when OSXSAVE is set, and 0 without OSXSAVE; a note in the result says so.

Sources: Intel SDM vol. 2A CPUID leaf 0DH subleaf 0 (supported XCR0 bits); cpuid(1) man page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from config_reloader.bounded_read import FileTooLarge, NotRegularFile, read_stable
from config_reloader.cpu import cpuid as cp
from config_reloader.cpu.model import CpuFeatures, MachineFeatures
from config_reloader.cpu.probe import build_cpu
from config_reloader.cpu.topology import format_cpulist, parse_cpulist
from config_reloader.errors import CpuidError

__all__ = [
    "FORMAT",
    "VERSION",
    "assumed_xcr0",
    "dump_capture",
    "load_capture",
    "parse_capture",
    "parse_cpuid_r",
    "to_json",
]

FORMAT = "config-reloader/cpu-capture"
VERSION = 1

_CPU_RE = re.compile(r"^\s*CPU\s*(\d*)\s*:\s*$")
_LINE_RE = re.compile(
    r"^\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s*:\s*eax=0x([0-9a-fA-F]+)\s+ebx=0x([0-9a-fA-F]+)"
    r"\s+ecx=0x([0-9a-fA-F]+)\s+edx=0x([0-9a-fA-F]+)\s*$"
)

NOTE_ASSUMED_XCR0 = (
    "cpuid -r dump has no XCR0: usable view assumes the OS enabled every XSAVE "
    "component the CPU supports (XCR0 := CPUID.0DH.0 EDX:EAX) where OSXSAVE is set"
)


def parse_cpuid_r(text: str, *, source: str = "<text>") -> dict[int, dict[tuple[int, int], cp.Regs]]:
    """Parse ``cpuid -r`` output into ``cpu -> (leaf, subleaf) -> registers``.

    Lines outside the recognised shapes are ignored (cpuid may print headers); a file without any
    register line is an error. ``CPU:`` without a number (``cpuid -1 -r``) is CPU 0.

    Raises:
        CpuidError: no register lines, or register lines before any ``CPU`` header are mixed with
            numbered blocks ambiguously.
    """
    cpus: dict[int, dict[tuple[int, int], cp.Regs]] = {}
    current: int | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = _CPU_RE.match(line)
        if m:
            current = int(m.group(1)) if m.group(1) else 0
            cpus.setdefault(current, {})
            continue
        m = _LINE_RE.match(line)
        if m:
            if current is None:
                current = 0
                cpus.setdefault(0, {})
            leaf, sub, a, b, c, d = (int(g, 16) for g in m.groups())
            cpus[current][(leaf, sub)] = (a, b, c, d)
        elif line.strip() and current is not None and "eax=" in line:
            raise CpuidError(f"{source}:{lineno}: cannot parse cpuid -r line {line.strip()!r}")
    if not any(cpus.values()):
        raise CpuidError(f"{source}: no `cpuid -r` register lines found")
    return cpus


def assumed_xcr0(leaves: Mapping[tuple[int, int], cp.Regs]) -> int:
    """XCR0 assumed for a dump: CPUID.0DH.0 EDX:EAX if OSXSAVE is set and leaf 0xD exists, else 0."""
    if not cp.osxsave(leaves) or leaves.get((0, 0), (0, 0, 0, 0))[0] < 0xD:
        return 0
    a, _b, _c, d = leaves.get((0xD, 0), (0, 0, 0, 0))
    return a | (d << 32)


def _from_cpuid_r(text: str, source: str) -> MachineFeatures:
    raw = parse_cpuid_r(text, source=source)
    cpus: dict[int, CpuFeatures | None] = {}
    for n, leaves in sorted(raw.items()):
        cpus[n] = build_cpu(
            n, leaves, xcr0=assumed_xcr0(leaves), xcr0_source="assumed-leaf-0xd", kernel_tokens=None
        )
    return MachineFeatures(
        arch="x86-64",
        backend="capture:cpuid-r",
        cpus=cpus,
        notes=(NOTE_ASSUMED_XCR0,),
        affinity=None,
        current_cpu=min(cpus),
    )


def _hex(v: int) -> str:
    return f"0x{v:08x}"


def _int(v: Any, what: str) -> int:
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        return int(v, 0)
    raise CpuidError(f"capture: {what} must be an integer or hex string, not {v!r}")


def to_json(machine: MachineFeatures) -> dict[str, Any]:
    """The JSON capture document of ``machine`` (see the module docstring)."""
    cpus: dict[str, Any] = {}
    for n, f in sorted(machine.cpus.items()):
        if f is None:
            cpus[str(n)] = None
            continue
        cpus[str(n)] = {
            "leaves": {
                f"{_hex(leaf)}.0x{sub:02x}": [_hex(x) for x in regs]
                for (leaf, sub), regs in sorted(f.leaves.items())
            },
            "xcr0": hex(f.xcr0) if f.xcr0 is not None else None,
            "xcr0_source": f.xcr0_source,
            "kernel_flags": sorted(f.kernel) if f.kernel is not None else None,
            "features": sorted(f.cpu_view) if not f.leaves else None,
        }
    return {
        "format": FORMAT,
        "version": VERSION,
        **_machine_fields(machine),
        "cpus": cpus,
    }


def _machine_fields(machine: MachineFeatures) -> dict[str, Any]:
    """The machine-wide JSON fields (``arch`` to ``notes``), shared with ``cpu-features --json``."""
    return {
        "arch": machine.arch,
        "backend": machine.backend,
        "hostname": machine.hostname,
        "affinity": format_cpulist(machine.affinity) if machine.affinity is not None else None,
        "current_cpu": machine.current_cpu,
        "notes": list(machine.notes),
    }


def dump_capture(machine: MachineFeatures) -> str:
    """Serialise ``machine`` as a JSON capture (text, newline-terminated)."""
    return json.dumps(to_json(machine), indent=1, sort_keys=False) + "\n"


def _from_json(doc: Any, source: str) -> MachineFeatures:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CpuidError(f"{source}: not a config-reloader CPU capture (format != {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise CpuidError(
            f"{source}: capture version {doc.get('version')!r} not supported "
            f"(this build reads version {VERSION})"
        )
    arch = str(doc.get("arch", "x86-64"))
    cpus: dict[int, CpuFeatures | None] = {}
    raw_cpus = doc.get("cpus")
    if not isinstance(raw_cpus, dict):
        raise CpuidError(f"{source}: 'cpus' must be an object")
    for key, entry in raw_cpus.items():
        n = int(key)
        if entry is None:
            cpus[n] = None
            continue
        leaves: dict[tuple[int, int], cp.Regs] = {}
        for lk, regs in (entry.get("leaves") or {}).items():
            leaf_s, _, sub_s = str(lk).partition(".")
            if not isinstance(regs, list) or len(regs) != 4:
                raise CpuidError(f"{source}: cpu {n} leaf {lk}: expected 4 registers")
            r = tuple(_int(x, f"cpu {n} leaf {lk}") for x in regs)
            leaves[(int(leaf_s, 0), int(sub_s or "0", 0))] = r  # type: ignore[assignment]
        xcr0 = _int(entry["xcr0"], "xcr0") if entry.get("xcr0") is not None else None
        flags = entry.get("kernel_flags")
        if arch == "arm64" or (not leaves and entry.get("features") is not None):
            names = frozenset(entry.get("features") or ())
            kern = frozenset(flags) if flags is not None else None
            cpus[n] = CpuFeatures(n, names, names, kern, frozenset())
            continue
        cpus[n] = build_cpu(n, leaves, xcr0=xcr0, xcr0_source=entry.get("xcr0_source"), kernel_tokens=flags)
    aff = doc.get("affinity")
    return MachineFeatures(
        arch=arch,
        backend=f"capture:json ({doc.get('backend', '?')})",
        cpus=cpus,
        notes=tuple(str(x) for x in doc.get("notes") or ()),
        affinity=parse_cpulist(aff) if isinstance(aff, str) else None,
        current_cpu=doc.get("current_cpu"),
        hostname=doc.get("hostname"),
    )


def parse_capture(text: str, *, source: str = "<text>") -> MachineFeatures:
    """Parse a capture given as text: JSON (starts with ``{``) or ``cpuid -r`` output.

    Raises:
        CpuidError: malformed capture (says where).
    """
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CpuidError(f"{source}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        return _from_json(doc, source)
    return _from_cpuid_r(text, source)


CAPTURE_LIMIT = 64 << 20
"""Bytes a capture may hold: ``cpuid -r`` prints about 6 KB per CPU (6.4 MB for 1,024 CPUs)."""


def load_capture(path: str) -> MachineFeatures:
    """Read a capture file (our JSON or ``cpuid -r`` text); ``"-"`` reads standard input.

    At most :data:`CAPTURE_LIMIT` bytes; only a regular file (a FIFO or device is refused
    without blocking or reading it).

    Raises:
        CpuidError: unreadable, not a regular file, too large, not UTF-8, or malformed.
    """
    try:
        if path == "-":
            import sys

            text = sys.stdin.read(CAPTURE_LIMIT + 1)
            if len(text) > CAPTURE_LIMIT:
                raise CpuidError(
                    f"cannot read CPU capture from standard input: more than {CAPTURE_LIMIT} bytes"
                )
        else:
            # A FIFO or device is refused without blocking; a huge file is not read into memory.
            text = read_stable(path, CAPTURE_LIMIT)[0].decode("utf-8")
    except NotRegularFile as exc:
        raise CpuidError(f"cannot read CPU capture {path}: {exc.kind}, not a regular file") from exc
    except FileTooLarge as exc:
        raise CpuidError(f"cannot read CPU capture {path}: more than {CAPTURE_LIMIT} bytes") from exc
    except OSError as exc:
        raise CpuidError(f"cannot read CPU capture {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CpuidError(f"cannot read CPU capture {path}: not UTF-8 text (byte {exc.start})") from exc
    return parse_capture(text, source=path)
