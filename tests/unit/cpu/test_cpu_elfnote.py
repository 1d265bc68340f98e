"""The x86 ISA level note of real binaries compiled here with gcc, checked against `readelf -n`."""

from __future__ import annotations

import os
import re
import shutil
import struct
import threading
from pathlib import Path

import childproc
import pytest

from config_reloader.cpu.elfnote import ElfNoteError, read_isa_needed

MAIN_C = "int main(void) { return 0; }\n"
# No C library and no start files: nothing contributes a property note.
BARE_C = 'void _start(void) { __asm__ volatile("mov $60, %%eax; xor %%edi, %%edi; syscall" ::: "memory"); }\n'

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or os.uname().machine != "x86_64",
    reason="needs gcc (Debian package gcc, in the README test command) on x86-64",
)


def gcc(tmp: Path, name: str, source: str, *flags: str) -> Path:
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    childproc.run(["gcc", "-O2", *flags, "-o", str(out), str(src)], check=True, timeout=120)
    return out


def readelf_levels(path: Path) -> tuple[str, ...]:
    """The levels `readelf -n` prints after "x86 ISA needed:" (baseline = our x86-64-v1)."""
    text = childproc.run(
        ["readelf", "-n", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    m = re.search(r"x86 ISA needed: (.*)", text)
    if m is None:
        return ()
    return tuple(s.strip().replace("x86-64-baseline", "x86-64-v1") for s in m.group(1).split(","))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("elf")
    return {
        "v2": gcc(tmp, "v2", MAIN_C, "-mneeded", "-march=x86-64-v2"),
        "v3": gcc(tmp, "v3", MAIN_C, "-mneeded", "-march=x86-64-v3"),
        "v4": gcc(tmp, "v4", MAIN_C, "-mneeded", "-march=x86-64-v4"),
        "skx": gcc(tmp, "skx", MAIN_C, "-mneeded", "-march=skylake-avx512"),
        "pie-v3": gcc(tmp, "pie-v3", MAIN_C, "-mneeded", "-march=x86-64-v3", "-fPIE", "-pie"),
        "static-v3": gcc(tmp, "static-v3", MAIN_C, "-mneeded", "-march=x86-64-v3", "-static"),
        "ld-z-v3": gcc(tmp, "ld-z-v3", BARE_C, "-static", "-nostdlib", "-Wl,-z,x86-64-v3"),
        "no-note": gcc(tmp, "no-note", BARE_C, "-static", "-nostdlib"),
        "stripped-v3": gcc(tmp, "stripped-v3", MAIN_C, "-mneeded", "-march=x86-64-v3", "-s"),
    }


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("v2", "x86-64-v2"),
        ("v3", "x86-64-v3"),
        ("v4", "x86-64-v4"),
        ("skx", "x86-64-v4"),
        ("pie-v3", "x86-64-v3"),
        ("static-v3", "x86-64-v3"),
        ("ld-z-v3", "x86-64-v3"),
        ("stripped-v3", "x86-64-v3"),
    ],
)
def test_level_matches_readelf(built: dict[str, Path], name: str, level: str) -> None:
    needs = read_isa_needed(str(built[name]))
    assert needs.arch == "x86-64" and needs.has_note
    assert needs.levels == readelf_levels(built[name])
    assert needs.level == level
    assert needs.feature() == f"x86-64.{level}"


def test_binary_without_the_note_says_so(built: dict[str, Path]) -> None:
    needs = read_isa_needed(str(built["no-note"]))
    assert readelf_levels(built["no-note"]) == ()
    assert not needs.has_note and needs.levels == () and needs.raw is None
    with pytest.raises(ElfNoteError, match=r"no GNU_PROPERTY_X86_ISA_1_NEEDED note.*-mneeded"):
        needs.feature()


def test_the_system_python_is_baseline() -> None:
    """A distribution binary: Debian's python3 is built for the x86-64 baseline."""
    path = os.path.realpath("/usr/bin/python3")
    assert read_isa_needed(path).levels == readelf_levels(Path(path))


def test_bad_files_are_one_line_errors(tmp_path: Path, built: dict[str, Path]) -> None:
    with pytest.raises(ElfNoteError, match=r"cannot read binary .*No such file"):
        read_isa_needed(str(tmp_path / "missing"))
    (tmp_path / "text").write_text("#!/bin/sh\n")
    with pytest.raises(ElfNoteError, match="not an ELF file"):
        read_isa_needed(str(tmp_path / "text"))
    obj = tmp_path / "m.o"
    (tmp_path / "m.c").write_text(MAIN_C)
    childproc.run(["gcc", "-c", "-mneeded", "-o", str(obj), str(tmp_path / "m.c")], check=True, timeout=60)
    with pytest.raises(ElfNoteError, match="not an executable or shared object"):
        read_isa_needed(str(obj))
    data = built["v3"].read_bytes()
    (tmp_path / "short").write_bytes(data[:40])
    with pytest.raises(ElfNoteError, match="truncated"):
        read_isa_needed(str(tmp_path / "short"))


def test_note_running_past_its_segment_is_an_error(tmp_path: Path, built: dict[str, Path]) -> None:
    """Corrupt the descsz of the property note of a real binary: an error, not a wrong answer."""
    data = bytearray(built["v3"].read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _f, p_offset = struct.unpack_from("<IIQ", data, phoff + i * phentsize)
        if p_type == 0x6474E553:  # PT_GNU_PROPERTY
            struct.pack_into("<I", data, p_offset + 4, 0x10000)  # descsz
            break
    else:
        pytest.fail("no PT_GNU_PROPERTY in a gcc -mneeded binary")
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    with pytest.raises(ElfNoteError, match="runs past its segment"):
        read_isa_needed(str(bad))


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "app"
    os.mkfifo(fifo)
    box: list[BaseException | None] = []

    def target() -> None:
        try:
            read_isa_needed(str(fifo))
        except BaseException as exc:  # handed to the test
            box.append(exc)
        else:
            box.append(None)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "read_isa_needed blocked on a FIFO"
    assert isinstance(box[0], ElfNoteError)
    assert str(box[0]) == f"{fifo}: a FIFO, not a regular file"
    with pytest.raises(ElfNoteError, match=r"^/dev/zero: a character device, not a regular file$"):
        read_isa_needed("/dev/zero")
