"""Unit specifiers (``%H``, ``%m``, ``%n``, …) in condition values, expanded like systemd does.

systemd expands specifiers in every ``Condition*=``/``Assert*=`` value after the ``|``/``!``
prefixes (``unit_full_printf``), for the unit the conditions belong to: ``test.service`` for
``systemd-analyze condition`` arguments, the unit file's name with ``--unit``. An unknown specifier
makes systemd ignore the assignment ("Failed to resolve unit specifiers … ignoring").

Values follow systemd.unit(5) "Specifiers" for the system manager (``%C`` = /var/cache, …) and
were checked one by one against ``systemd-analyze condition`` of systemd 252.
"""

from __future__ import annotations

import os

from config_reloader.errors import SpecifierError

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SpecifierError", "UnitName", "expand"]


class UnitName:
    """The unit the conditions belong to: ``name`` like ``foo@bar.service``, and its file."""

    __slots__ = ("fragment", "name")

    def __init__(self, name: str = "test.service", fragment: str | None = None) -> None:
        self.name = name
        self.fragment = fragment

    @property
    def prefix(self) -> str:
        stem = self.name.rpartition(".")[0] or self.name
        return stem.partition("@")[0]

    @property
    def instance(self) -> str:
        stem = self.name.rpartition(".")[0] or self.name
        return stem.partition("@")[2]


def _unescape(text: str) -> str:
    """systemd's ``unit_name_unescape``: ``-`` is ``/``, ``\\xNN`` is a byte."""
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "-":
            out.append("/")
        elif ch == "\\" and text[i + 1 : i + 2] == "x" and i + 4 <= len(text):
            try:
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            except ValueError:
                out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _os_release(key: str) -> str:
    import shlex

    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            k, eq, v = line.partition("=")
            if eq and k.strip() == key:
                try:
                    return " ".join(shlex.split(v))
                except ValueError:
                    return v
        return ""
    return ""


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _pwd_field(field: str) -> str:
    import pwd

    try:
        entry = pwd.getpwuid(os.getuid())
    except KeyError:
        return ""
    return str(getattr(entry, field))


def _group() -> str:
    import grp

    try:
        return grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        return str(os.getgid())


def _fragment(unit: UnitName, dirname: bool) -> str:
    if unit.fragment is None:
        raise SpecifierError("%y/%Y: the conditions do not come from a unit file", text="%y")
    return os.path.dirname(unit.fragment) if dirname else unit.fragment


def _table(unit: UnitName) -> dict[str, Callable[[], str]]:
    return {
        "a": lambda: _arch(),
        "A": lambda: _os_release("IMAGE_VERSION"),
        "b": lambda: _read("/proc/sys/kernel/random/boot_id").replace("-", ""),
        "B": lambda: _os_release("BUILD_ID"),
        "C": lambda: "/var/cache",
        "d": lambda: f"/run/credentials/{unit.name}",
        "E": lambda: "/etc",
        "f": lambda: "/" + _unescape(unit.instance or unit.prefix),
        "g": _group,
        "G": lambda: str(os.getgid()),
        "h": lambda: _pwd_field("pw_dir"),
        "H": _hostname,
        "i": lambda: unit.instance,
        "I": lambda: _unescape(unit.instance),
        "j": lambda: unit.prefix.rpartition("-")[2],
        "J": lambda: _unescape(unit.prefix.rpartition("-")[2]),
        "l": lambda: _hostname().partition(".")[0],
        "L": lambda: "/var/log",
        "m": lambda: _read("/etc/machine-id"),
        "M": lambda: _os_release("IMAGE_ID"),
        "n": lambda: unit.name,
        "N": lambda: unit.name.rpartition(".")[0] or unit.name,
        "o": lambda: _os_release("ID"),
        "p": lambda: unit.prefix,
        "P": lambda: _unescape(unit.prefix),
        "q": lambda: _pretty_hostname(),
        "s": lambda: _pwd_field("pw_shell"),
        "S": lambda: "/var/lib",
        "t": lambda: "/run",
        "T": lambda: os.environ.get("TMPDIR") or "/tmp",
        "u": lambda: _pwd_field("pw_name") or str(os.getuid()),
        "U": lambda: str(os.getuid()),
        "v": lambda: os.uname().release,
        "V": lambda: os.environ.get("TMPDIR") or "/var/tmp",
        "w": lambda: _os_release("VERSION_ID"),
        "W": lambda: _os_release("VARIANT_ID"),
        "y": lambda: _fragment(unit, False),
        "Y": lambda: _fragment(unit, True),
        "%": lambda: "%",
    }


def _arch() -> str:
    from config_reloader.conditions.machine import uname_architecture

    return uname_architecture()


def _pretty_hostname() -> str:
    for line in _read("/etc/machine-info").splitlines():
        k, _, v = line.partition("=")
        if k == "PRETTY_HOSTNAME" and v:
            return v.strip("\"'")
    return _hostname().partition(".")[0]


def expand(text: str, unit: UnitName | None = None) -> str:
    """Expand ``%X`` specifiers in ``text``.

    Like systemd, a trailing lone ``%`` and ``%`` before a character that is not an ASCII letter
    or digit (``100%/5min``) are kept as written.

    Raises:
        SpecifierError: unknown letter or digit (e.g. ``%Z``, ``%1``), the deprecated
            ``%c``/``%r``/``%R`` (not supported), or ``%y``/``%Y`` without a unit file.
    """
    if "%" not in text:
        return text
    table = _table(unit or UnitName())
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        spec = text[i + 1]
        fn = table.get(spec)
        if fn is None and not (spec.isascii() and spec.isalnum()):
            out.append(ch + spec)  # systemd keeps "%/", "%-", "% " as written
            i += 2
            continue
        if fn is None:
            raise SpecifierError(
                f"unknown specifier '%{spec}' in {text!r} (write %% for a literal %)", text=text
            )
        out.append(fn())
        i += 2
    return "".join(out)
