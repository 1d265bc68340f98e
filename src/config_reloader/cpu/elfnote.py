"""What an ELF binary says it needs: the x86 ISA level in its ``.note.gnu.property`` note.

``gcc -mneeded`` (GCC >= 11), ``ld -z x86-64-v3`` and distributions' x86-64-v3 builds record
``GNU_PROPERTY_X86_ISA_1_NEEDED`` in an ``NT_GNU_PROPERTY_TYPE_0`` note: a bit mask of the
x86-64 psABI levels the code needs (the linker ORs the masks of the objects it links). The note is
found through the program headers (``PT_GNU_PROPERTY``, else every ``PT_NOTE``), so a stripped
binary (no section headers) is read the same. The note is only as good as the build: an object
compiled with ``-march=x86-64-v3`` without ``-mneeded`` contributes nothing, so a binary may need
more than its note says, never less.

Sources: the x86-64 psABI "Program Property" section; binutils ``include/elf/common.h``
(``GNU_PROPERTY_X86_ISA_1_NEEDED`` = 0xc0008002, ``GNU_PROPERTY_X86_ISA_1_BASELINE`` .. ``V4`` =
bits 0-3); ``readelf -n`` prints the same as "x86 ISA needed: x86-64-baseline, x86-64-v2, ...".
"""

from __future__ import annotations

import os
import stat
import struct

from config_reloader.bounded_read import file_kind
from config_reloader.cpu._record import Record
from config_reloader.errors import CpuidError

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["BinaryNeeds", "ElfNoteError", "read_isa_needed"]

PT_NOTE = 4
PT_GNU_PROPERTY = 0x6474E553
NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
EM_386 = 3
EM_X86_64 = 62
EM_AARCH64 = 183
#: ISA_1 bit -> this project's psABI level name (bit 0 is binutils' "x86-64-baseline")
ISA_1_LEVELS = {0: "x86-64-v1", 1: "x86-64-v2", 2: "x86-64-v3", 3: "x86-64-v4"}
_MACHINES = {EM_386: "x86", EM_X86_64: "x86-64", EM_AARCH64: "arm64", 40: "arm", 21: "ppc64", 243: "riscv64"}
_MAX_HEADERS = 4096  # program headers read at most (a real binary has ~15)
_MAX_NOTE = 1 << 20  # bytes of one note segment read at most


class ElfNoteError(CpuidError):
    """The file is not a readable ELF binary, or its property note is malformed (says where)."""


class BinaryNeeds(Record):
    """What :func:`read_isa_needed` found.

    Attributes:
        path: the file read.
        arch: systemd's architecture name of ``e_machine`` (``"x86-64"``, ``"x86"``, ``"arm64"``).
        levels: psABI levels named by the note (``("x86-64-v1", "x86-64-v2", "x86-64-v3")``),
            empty without an ISA note.
        has_note: the binary has a ``GNU_PROPERTY_X86_ISA_1_NEEDED`` property.
        raw: the property's bit mask (``None`` without it); bits above v4 are kept here.
    """

    _fields = ("path", "arch", "levels", "has_note", "raw")
    __slots__ = ("arch", "has_note", "levels", "path", "raw")
    path: str
    arch: str
    levels: tuple[str, ...]
    has_note: bool
    raw: int | None

    def __init__(
        self, path: str, arch: str, levels: tuple[str, ...], has_note: bool, raw: int | None
    ) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "arch", arch)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "has_note", has_note)
        object.__setattr__(self, "raw", raw)

    @property
    def level(self) -> str | None:
        """The highest level named (``"x86-64-v3"``), ``None`` without a note or bits."""
        return self.levels[-1] if self.levels else None

    def feature(self) -> str:
        """The ``ConditionCPUFeature=`` value that gates on it (``"x86-64.x86-64-v3"``).

        Raises:
            ElfNoteError: the binary has no ISA note (the message says so and what to do).
        """
        if not self.has_note or self.level is None:
            if self.arch not in ("x86-64", "x86"):
                why = f"it is an {self.arch} binary; only x86 binaries carry an ISA level note"
            else:
                why = (
                    "it has no GNU_PROPERTY_X86_ISA_1_NEEDED note (build with gcc -mneeded or "
                    "ld -z x86-64-vN to record it), so it does not say which x86-64 level it needs"
                )
            raise ElfNoteError(f"{self.path}: {why}")
        return f"x86-64.{self.level}" if self.arch == "x86-64" else self.level


def read_isa_needed(path: str) -> BinaryNeeds:
    """Read the x86 ISA level note of the ELF file at ``path``.

    Returns:
        :class:`BinaryNeeds`; ``has_note`` is False when the binary has no such property.

    Raises:
        ElfNoteError: unreadable file, not a regular file (a FIFO is refused without blocking),
            not ELF, truncated or malformed headers/notes.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        with open(fd, "rb") as fh:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ElfNoteError(f"{path}: {file_kind(mode)}, not a regular file")
            return _read(fh, path)
    except OSError as exc:
        raise ElfNoteError(f"cannot read binary {path}: {exc.strerror or exc}") from exc


def _read(fh: BinaryIO, path: str) -> BinaryNeeds:
    ident = fh.read(64)
    if len(ident) < 16 or ident[:4] != b"\x7fELF":
        raise ElfNoteError(f"{path}: not an ELF file")
    cls, data = ident[4], ident[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise ElfNoteError(f"{path}: unknown ELF class {cls} or data encoding {data}")
    end = "<" if data == 1 else ">"
    is64 = cls == 2
    if len(ident) < (64 if is64 else 52):
        raise ElfNoteError(f"{path}: truncated ELF header")
    e_type, e_machine = struct.unpack_from(end + "HH", ident, 16)
    if e_type not in (2, 3):  # ET_EXEC, ET_DYN: only linked files have the merged note in a segment
        raise ElfNoteError(
            f"{path}: not an executable or shared object (ELF type {e_type}); give the linked binary"
        )
    if is64:
        e_phoff, e_phentsize, e_phnum = (
            struct.unpack_from(end + "Q", ident, 32)[0],
            *struct.unpack_from(end + "HH", ident, 54),
        )
    else:
        e_phoff, e_phentsize, e_phnum = (
            struct.unpack_from(end + "I", ident, 28)[0],
            *struct.unpack_from(end + "HH", ident, 42),
        )
    arch = _MACHINES.get(e_machine, f"e_machine {e_machine}")
    if e_phnum > _MAX_HEADERS or (e_phnum and e_phentsize < (56 if is64 else 32)):
        raise ElfNoteError(f"{path}: implausible program headers ({e_phnum} of {e_phentsize} bytes)")
    fh.seek(e_phoff)
    table = fh.read(e_phnum * e_phentsize)
    if len(table) < e_phnum * e_phentsize:
        raise ElfNoteError(f"{path}: truncated program header table")
    segments: list[tuple[int, int, int, int]] = []  # (type, offset, size, align)
    for i in range(e_phnum):
        off = i * e_phentsize
        if is64:
            p_type, _flags, p_offset = struct.unpack_from(end + "IIQ", table, off)
            p_filesz, _memsz, p_align = struct.unpack_from(end + "QQQ", table, off + 32)
        else:
            p_type, p_offset = struct.unpack_from(end + "II", table, off)
            p_filesz, _memsz, _flags, p_align = struct.unpack_from(end + "IIII", table, off + 16)
        if p_type in (PT_NOTE, PT_GNU_PROPERTY):
            segments.append((p_type, p_offset, p_filesz, p_align))
    prop = [s for s in segments if s[0] == PT_GNU_PROPERTY]
    raw: int | None = None
    for _t, offset, size, align in prop or segments:
        if size > _MAX_NOTE:
            raise ElfNoteError(f"{path}: note segment of {size} bytes at {offset:#x} is implausibly large")
        fh.seek(offset)
        blob = fh.read(size)
        if len(blob) < size:
            raise ElfNoteError(f"{path}: note segment at {offset:#x} is truncated")
        # gABI: a note segment aligned to 8 has 8-byte aligned notes; properties inside an
        # NT_GNU_PROPERTY_TYPE_0 note are aligned to 8 in ELF64, 4 in ELF32
        found = _isa_from_notes(blob, end, 8 if align == 8 else 4, 8 if is64 else 4, path, offset)
        if found is not None:
            raw = (raw or 0) | found
    levels = tuple(name for bit, name in ISA_1_LEVELS.items() if raw is not None and raw >> bit & 1)
    return BinaryNeeds(path=path, arch=arch, levels=levels, has_note=raw is not None, raw=raw)


def _isa_from_notes(blob: bytes, end: str, align: int, prop_align: int, path: str, base: int) -> int | None:
    """The ISA_1_NEEDED mask in a note segment, or ``None`` if absent."""
    pos = 0
    found: int | None = None
    while pos + 12 <= len(blob):
        namesz, descsz, ntype = struct.unpack_from(end + "III", blob, pos)
        desc = _up(pos + 12 + namesz, align)
        desc_end = desc + descsz
        if desc_end > len(blob):
            raise ElfNoteError(f"{path}: note at {base + pos:#x} runs past its segment")
        if ntype == NT_GNU_PROPERTY_TYPE_0 and blob[pos + 12 : pos + 12 + namesz].rstrip(b"\0") == b"GNU":
            q = desc
            while q + 8 <= desc_end:
                pr_type, pr_datasz = struct.unpack_from(end + "II", blob, q)
                if q + 8 + pr_datasz > desc_end:
                    raise ElfNoteError(f"{path}: GNU property at {base + q:#x} runs past its note")
                if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz >= 4:
                    (mask,) = struct.unpack_from(end + "I", blob, q + 8)
                    found = (found or 0) | mask
                q = _up(q + 8 + pr_datasz, prop_align)
        pos = _up(desc_end, align)
    return found


def _up(n: int, align: int) -> int:
    return (n + align - 1) // align * align
