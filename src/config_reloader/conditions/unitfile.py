"""Reading a unit file's bytes safely, before :mod:`config_reloader.conditions.parse` parses them.

systemd reads unit files with ``read_line(f, LONG_LINE_MAX)`` (src/basic/fileio.h: 1 MiB) and
refuses a longer line, or a continued line that grows past it ("Line too long" / "Continuation
line too long"). It has no whole-file bound; ours (16 MiB) keeps a ``/dev/zero``-like file from
filling memory: a real unit is a few KiB. A FIFO or device is refused before any read, and a NUL
byte (which systemd's line reader takes for an end of line) is an error, not an empty unit.
"""

from __future__ import annotations

import os
import stat

from config_reloader.errors import ConditionSyntaxError

__all__ = ["UNIT_FILE_MAX", "UNIT_LINE_MAX", "read_unit"]

UNIT_LINE_MAX = 1 << 20
UNIT_FILE_MAX = 16 << 20


def read_unit(path: str) -> str:
    """The text of a unit file or drop-in: a regular file (``O_NONBLOCK``: a FIFO cannot block
    the open; it is refused before any read), at most 16 MiB, lines and continued lines at most
    1 MiB, no NUL byte, UTF-8.

    Raises:
        ConditionSyntaxError: any of these does not hold (exit status 2 in the CLI).
    """

    def bad(what: str, line: int | None = None) -> ConditionSyntaxError:
        where = f"{path}:{line}" if line is not None else path
        return ConditionSyntaxError(f"{where}: {what}", text=path, line=line)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise bad(f"cannot read unit file: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise bad("not a regular file (unit files must be regular files)")
        if st.st_size > UNIT_FILE_MAX:
            raise bad(f"unit file too large ({st.st_size} bytes, at most {UNIT_FILE_MAX})")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(max(st.st_size + 1, 65536), UNIT_FILE_MAX + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > UNIT_FILE_MAX:
                raise bad(f"unit file too large (more than {UNIT_FILE_MAX} bytes)")
        data = b"".join(chunks)
    except OSError as exc:
        raise bad(f"cannot read unit file: {exc.strerror}") from exc
    finally:
        os.close(fd)
    nul = data.find(b"\0")
    if nul >= 0:
        raise bad("NUL byte in unit file", data.count(b"\n", 0, nul) + 1)
    logical = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        if len(line) > UNIT_LINE_MAX:
            raise bad(f"line too long (more than {UNIT_LINE_MAX} bytes)", number)
        logical += len(line)
        if logical > UNIT_LINE_MAX:
            raise bad(f"continuation line too long (more than {UNIT_LINE_MAX} bytes)", number)
        if not line.rstrip(b"\r").endswith(b"\\"):
            logical = 0
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 (byte {exc.start})") from exc
