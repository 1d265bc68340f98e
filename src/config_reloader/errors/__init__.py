"""Exceptions raised by config-reloader.

Every error the library raises on purpose derives from :class:`ConfigReloaderError`; misuse of an
API (bad argument types or values) stays ``ValueError`` / ``TypeError`` / ``RuntimeError``.
Errors carry the context as attributes and their message says what failed, on what, and what to try.
``cli`` is the only place that maps them to exit statuses.

The reloader's and the supervisor's errors are defined in :mod:`config_reloader.errors.reloader`
and loaded from here on first use: the ``condition`` command, which runs on every service start,
creates only the condition and CPU classes (an exception class costs ~80,000 instructions to
create; the 16 others were 3% of the command's start-up). Every name is reached from here all
the same (``from config_reloader.errors import ReloadError``), and reports itself as
``config_reloader.errors.ReloadError``.

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

from config_reloader.lazy import lazy_attributes

TYPE_CHECKING = False  # collections.abc is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

    from config_reloader.errors.reloader import (
        AtomicWriteError as AtomicWriteError,
    )
    from config_reloader.errors.reloader import (
        ConfigTooLarge as ConfigTooLarge,
    )
    from config_reloader.errors.reloader import (
        EnvExpansionError as EnvExpansionError,
    )
    from config_reloader.errors.reloader import (
        GzipError as GzipError,
    )
    from config_reloader.errors.reloader import (
        InotifyLimitError as InotifyLimitError,
    )
    from config_reloader.errors.reloader import (
        ReloadError as ReloadError,
    )
    from config_reloader.errors.reloader import (
        ReloadRejected as ReloadRejected,
    )
    from config_reloader.errors.reloader import (
        ReloadTimeout as ReloadTimeout,
    )
    from config_reloader.errors.reloader import (
        RenderError as RenderError,
    )
    from config_reloader.errors.reloader import (
        SnapshotError as SnapshotError,
    )
    from config_reloader.errors.reloader import (
        SuperviseError as SuperviseError,
    )
    from config_reloader.errors.reloader import (
        TargetNotFound as TargetNotFound,
    )
    from config_reloader.errors.reloader import (
        TargetNotReady as TargetNotReady,
    )
    from config_reloader.errors.reloader import (
        ValidationFailed as ValidationFailed,
    )
    from config_reloader.errors.reloader import (
        VerifyFailed as VerifyFailed,
    )
    from config_reloader.errors.reloader import (
        WatchError as WatchError,
    )

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


def _rebuild(cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> BaseException:
    error = cls.__new__(cls, *args)  # BaseException.__new__ sets .args; __init__ is not called
    error.__dict__.update(state)
    return error


class ConfigReloaderError(Exception):
    """Base of every error config-reloader raises on purpose.

    Copies and pickles keep the context attributes: the default rebuilds an exception by calling
    its class with ``args`` only, which the subclasses' keyword-only context arguments refuse.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


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


#: The names :mod:`config_reloader.errors.reloader` defines (its ``__all__``), loaded on first use.
_RELOADER_ERRORS: tuple[str, ...] = (
    "AtomicWriteError",
    "ConfigTooLarge",
    "EnvExpansionError",
    "GzipError",
    "InotifyLimitError",
    "ReloadError",
    "ReloadRejected",
    "ReloadTimeout",
    "RenderError",
    "SnapshotError",
    "SuperviseError",
    "TargetNotFound",
    "TargetNotReady",
    "ValidationFailed",
    "VerifyFailed",
    "WatchError",
)

__getattr__, __dir__ = lazy_attributes(
    globals(), dict.fromkeys(_RELOADER_ERRORS, "config_reloader.errors.reloader")
)
