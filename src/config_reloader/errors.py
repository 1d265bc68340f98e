"""Exceptions raised by config-reloader.

Every error the library raises on purpose derives from :class:`ConfigReloaderError`; misuse of an
API (bad argument types or values) stays ``ValueError`` / ``TypeError`` / ``RuntimeError``.
Errors carry the context as attributes and their message says what failed, on what, and what to try.
``cli`` is the only place that maps them to exit statuses.

Tree::

    ConfigReloaderError
    ├── WatchError                    inotify / polling problems
    │   └── InotifyLimitError         ENOSPC / EMFILE: names the sysctl to raise (.sysctl)
    ├── SnapshotError                 a watched path could not be read (.path)
    ├── RenderError                   the output could not be rendered (.path)
    │   ├── GzipError                 input has gzip magic but is not valid gzip
    │   ├── ConfigTooLarge            input / gunzipped / expanded size over --max-config-size (.limit)
    │   ├── EnvExpansionError         $(VAR) unset under --strict-env (.names)
    │   └── ValidationFailed          --validate-command rejected the candidate (.returncode, .output)
    ├── AtomicWriteError              atomic write failed at a step (.path, .step)
    ├── ReloadError                   a reload attempt failed (.target)
    │   ├── ReloadTimeout             no answer within --reload-timeout: back off, do not hammer
    │   ├── ReloadRejected            the target answered, but not 200 (.status, .body)
    │   ├── TargetNotFound            no process / pid file / connection refused
    │   ├── TargetNotReady            the target is not ready to receive a reload yet
    │   └── VerifyFailed              runtime info did not confirm the reload
    ├── ConditionError                input errors in conditions (exit status 2)
    │   ├── ConditionSyntaxError      (.line, .column, .text)
    │   │   └── SpecifierError        unknown % specifier (systemd drops the assignment)
    │   ├── UnknownConditionError     unknown Condition/Assert type (.suggestions)
    │   ├── UnknownFeatureError       unknown CPU feature name (.name, .suggestions)
    │   └── NotSupportedHere          a type only PID 1 can answer (.type)
    ├── ConditionAssertFailed         an Assert*= did not hold (.results)
    ├── CpuidError                    CPU feature probing failed
    │   └── BackendUnavailable        a backend cannot run here (.backend, .reason)
    └── SuperviseError                the supervised child could not be started / managed
"""

from __future__ import annotations

TYPE_CHECKING = False  # collections.abc is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AtomicWriteError",
    "BackendUnavailable",
    "ConditionAssertFailed",
    "ConditionError",
    "ConditionSyntaxError",
    "ConfigReloaderError",
    "ConfigTooLarge",
    "CpuidError",
    "EnvExpansionError",
    "GzipError",
    "InotifyLimitError",
    "NotSupportedHere",
    "ReloadError",
    "ReloadRejected",
    "ReloadTimeout",
    "RenderError",
    "SnapshotError",
    "SpecifierError",
    "SuperviseError",
    "TargetNotFound",
    "TargetNotReady",
    "UnknownConditionError",
    "UnknownFeatureError",
    "ValidationFailed",
    "VerifyFailed",
    "WatchError",
]


class ConfigReloaderError(Exception):
    """Base of every error config-reloader raises on purpose."""


# --- watching -------------------------------------------------------------------------------------
class WatchError(ConfigReloaderError):
    """inotify or polling failed."""


class InotifyLimitError(WatchError):
    """inotify could not be set up because a kernel limit was reached.

    Attributes:
        sysctl: the sysctl to raise, e.g. ``fs.inotify.max_user_watches`` (ENOSPC) or
            ``fs.inotify.max_user_instances`` (EMFILE).
    """

    def __init__(self, message: str, *, sysctl: str) -> None:
        super().__init__(message)
        self.sysctl = sysctl


class SnapshotError(ConfigReloaderError):
    """A watched path could not be read while taking a content snapshot."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


# --- rendering ------------------------------------------------------------------------------------
class RenderError(ConfigReloaderError):
    """The output file could not be rendered; the previous output is left untouched."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class GzipError(RenderError):
    """The input starts with the gzip magic bytes but does not decompress."""


class ConfigTooLarge(RenderError):
    """The input, its decompressed form or its ``$(VAR)`` expansion exceeds the size limit
    (``--max-config-size``); nothing beyond the limit was kept in memory.

    Attributes:
        limit: the limit in bytes.
    """

    def __init__(self, message: str, *, path: str, limit: int) -> None:
        super().__init__(message, path=path)
        self.limit = limit


class EnvExpansionError(RenderError):
    """``$(VAR)`` references to unset variables under ``--strict-env``.

    Attributes:
        names: the unset variable names, sorted.
    """

    def __init__(self, message: str, *, path: str, names: Sequence[str]) -> None:
        super().__init__(message, path=path)
        self.names = tuple(names)


class ValidationFailed(RenderError):
    """``--validate-command`` exited non-zero on the rendered candidate."""

    def __init__(self, message: str, *, path: str, returncode: int, output: str) -> None:
        super().__init__(message, path=path)
        self.returncode = returncode
        self.output = output


class AtomicWriteError(ConfigReloaderError):
    """An atomic write failed; the target is unchanged and the temp file removed.

    Attributes:
        path: the target path.
        step: ``"create"``, ``"write"``, ``"fsync"``, ``"chmod"``, ``"rename"`` or ``"fsync-dir"``.
    """

    def __init__(self, message: str, *, path: str, step: str) -> None:
        super().__init__(message)
        self.path = path
        self.step = step


# --- reloading ------------------------------------------------------------------------------------
class ReloadError(ConfigReloaderError):
    """A reload attempt failed. ``target`` is printable and never contains credentials."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class ReloadTimeout(ReloadError):
    """The target did not answer within the reload timeout (slow, not necessarily broken)."""


class ReloadRejected(ReloadError):
    """The target answered with a non-200 status (e.g. 403 without --web.enable-lifecycle)."""

    def __init__(self, message: str, *, target: str, status: int, body: str = "") -> None:
        super().__init__(message, target=target)
        self.status = status
        self.body = body


class TargetNotFound(ReloadError):
    """No process matched, the pid file is missing/stale, or the connection was refused."""


class TargetNotReady(ReloadError):
    """The target exists but is not ready to receive a reload yet."""


class VerifyFailed(ReloadError):
    """Runtime info did not confirm the reload (reloadConfigSuccess false or lastConfigTime unchanged)."""


# --- conditions and CPU features ------------------------------------------------------------------
class ConditionError(ConfigReloaderError):
    """The condition input is wrong (CLI exit status 2)."""


class ConditionSyntaxError(ConditionError):
    """A condition or unit-file line does not parse.

    Attributes:
        line: 1-based line number in a unit file, or ``None`` for a command-line argument.
        column: 1-based column, or ``None``.
        text: the offending text.
    """

    def __init__(self, message: str, *, text: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.text = text
        self.line = line
        self.column = column


class SpecifierError(ConditionSyntaxError):
    """An unknown or unresolvable ``%`` specifier (systemd ignores such an assignment).

    Defined here (re-exported by ``conditions.specifiers``) so that parsing a value without ``%``
    does not import the specifier tables (start-up budget of ``config-reloader condition``).
    """


class UnknownConditionError(ConditionError):
    """Unknown ``Condition<Type>=`` / ``Assert<Type>=`` type."""

    def __init__(self, message: str, *, type: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.type = type
        self.suggestions = tuple(suggestions)


class UnknownFeatureError(ConditionError):
    """Unknown CPU feature name (systemd would silently answer false)."""

    def __init__(self, message: str, *, name: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.suggestions = tuple(suggestions)


class NotSupportedHere(ConditionError):
    """A condition type that only PID 1 (systemd itself) can answer."""

    def __init__(self, message: str, *, type: str) -> None:
        super().__init__(message)
        self.type = type


class ConditionAssertFailed(ConfigReloaderError):
    """An ``Assert*=`` did not hold. ``results`` holds the evaluated results (evaluate.py types)."""

    def __init__(self, message: str, *, results: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.results = tuple(results)


class CpuidError(ConfigReloaderError):
    """CPU feature probing failed."""


class BackendUnavailable(CpuidError):
    """A CPUID backend cannot run here (e.g. MemoryDenyWriteExecute refuses executable pages)."""

    def __init__(self, message: str, *, backend: str, reason: str) -> None:
        super().__init__(message)
        self.backend = backend
        self.reason = reason


class SuperviseError(ConfigReloaderError):
    """``run`` could not start or manage its child."""
